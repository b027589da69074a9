// Package query reads what package store writes: views, counters,
// buckets and period sums, theme terms, customer records, conversions,
// erasures and the sets of tenants, scopes and dirty scopes. It holds no
// script and writes nothing, so the read side can use it without the
// write protocol.
package query

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/customers"
	"github.com/cxpulse/cxpulse/internal/mpack"
	"github.com/cxpulse/cxpulse/internal/periodbuckets"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// Reader answers the queries of the read side over one Redis.
type Reader struct{ rdb redis.UniversalClient }

// New returns a Reader over rdb.
func New(rdb redis.UniversalClient) *Reader { return &Reader{rdb: rdb} }

// View returns the public view hash of one scope.
func (r *Reader) View(ctx context.Context, tenant, scope string) (map[string]string, error) {
	v, err := r.rdb.HGetAll(ctx, keys.View(tenant, scope)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading the view of %s %s: %w", tenant, scope, err)
	}
	return v, nil
}

// WindowTotals returns the totals of one window for each of the scopes
// (absent: the scope has none), in one round trip.
func (r *Reader) WindowTotals(ctx context.Context, tenant, window string, scopes []string) (map[string]stats.Counters, error) {
	pipe := r.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(scopes))
	for i, sc := range scopes {
		cmds[i] = pipe.HGet(ctx, keys.Counters(tenant, sc), window+":t")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading %s totals of %s: %w", window, tenant, err)
	}
	out := make(map[string]stats.Counters, len(scopes))
	for i, c := range cmds {
		packed, err := c.Result()
		if err != nil {
			continue
		}
		if out[scopes[i]], err = mpack.UnpackCounters([]byte(packed)); err != nil {
			return nil, fmt.Errorf("totals of %s %s: %w", tenant, scopes[i], err)
		}
	}
	return out, nil
}

// Buckets returns the counters of the given buckets of one window of one
// scope (absent: empty bucket).
func (r *Reader) Buckets(ctx context.Context, tenant, scope, window string, buckets []int64) (map[int64]stats.Counters, error) {
	fields := make([]string, len(buckets))
	for i, b := range buckets {
		fields[i] = window + ":" + strconv.FormatInt(b, 10)
	}
	vals, err := r.rdb.HMGet(ctx, keys.Counters(tenant, scope), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("reading %s buckets of %s %s: %w", window, tenant, scope, err)
	}
	out := make(map[int64]stats.Counters, len(buckets))
	for i, v := range vals {
		packed, ok := v.(string)
		if !ok {
			continue
		}
		if out[buckets[i]], err = mpack.UnpackCounters([]byte(packed)); err != nil {
			return nil, fmt.Errorf("bucket %s of %s %s: %w", fields[i], tenant, scope, err)
		}
	}
	return out, nil
}

// ScopeCounters is everything stored of one scope's counters: per window
// its totals and its buckets, read in one round trip and unpacked on
// demand.
type ScopeCounters struct {
	tenant, scope string
	h             map[string]string
}

// ScopeCounters reads the stored counters of one scope.
func (r *Reader) ScopeCounters(ctx context.Context, tenant, scope string) (*ScopeCounters, error) {
	h, err := r.rdb.HGetAll(ctx, keys.Counters(tenant, scope)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading counters of %s %s: %w", tenant, scope, err)
	}
	return &ScopeCounters{tenant: tenant, scope: scope, h: h}, nil
}

func (c *ScopeCounters) unpack(field string) (stats.Counters, error) {
	out, err := mpack.UnpackCounters([]byte(c.h[field]))
	if err != nil {
		return out, fmt.Errorf("counters %s of %s %s: %w", field, c.tenant, c.scope, err)
	}
	return out, nil
}

// Total returns the totals of a window (zero when it holds nothing).
func (c *ScopeCounters) Total(window string) (stats.Counters, error) {
	return c.unpack(window + ":t")
}

// Bucket returns the counters of one bucket of a window (zero when empty).
func (c *ScopeCounters) Bucket(window string, index int64) (stats.Counters, error) {
	return c.unpack(window + ":" + strconv.FormatInt(index, 10))
}

// FirstBucket returns the index of the earliest stored bucket of a window;
// ok is false when it has none.
func (c *ScopeCounters) FirstBucket(window string) (index int64, ok bool) {
	first := int64(math.MaxInt64)
	prefix := window + ":"
	for k := range c.h {
		if rest, found := strings.CutPrefix(k, prefix); found {
			if b, err := strconv.ParseInt(rest, 10, 64); err == nil {
				first = min(first, b)
			}
		}
	}
	return first, first != math.MaxInt64
}

// Customers returns the stored records of the given customers of a tenant;
// a customer without one is absent from the map.
func (r *Reader) Customers(ctx context.Context, tenant string, ids []string) (map[string]*customers.StoredRecord, error) {
	out := make(map[string]*customers.StoredRecord, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	vals, err := r.rdb.HMGet(ctx, keys.Customers(tenant), ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("reading customers of %s: %w", tenant, err)
	}
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		rec, err := customers.ParseStored(ids[i], str)
		if err != nil {
			return nil, err
		}
		out[ids[i]] = rec
	}
	return out, nil
}

// DueCustomers returns up to limit customers of a tenant whose records must
// be looked at by now (an inactivity loss or history to forget is due).
func (r *Reader) DueCustomers(ctx context.Context, tenant string, now time.Time, limit int) ([]string, error) {
	ids, err := r.rdb.ZRangeByScore(ctx, keys.CustomersDue(tenant), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("reading due customers of %s: %w", tenant, err)
	}
	return ids, nil
}

// UnknownReferrer stands for the referrer of a code whose referral.sent
// was never seen.
const UnknownReferrer = "unknown"

// ConversionsByReferrer counts, per referrer, the referral conversions
// (first purchases carrying their code) of a tenant whose purchase is at
// or after since (unix ms). Codes are resolved to referrers as they are
// read; a code never sent counts for UnknownReferrer.
func (r *Reader) ConversionsByReferrer(ctx context.Context, tenant string, since int64) (map[string]int64, error) {
	members, err := r.rdb.ZRangeByScore(ctx, keys.Conversions(tenant), &redis.ZRangeBy{
		Min: strconv.FormatInt(since, 10), Max: "+inf",
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("reading conversions of %s: %w", tenant, err)
	}
	perCode := map[string]int64{}
	var codes []string
	for _, m := range members {
		_, code, _ := strings.Cut(m, "\t")
		if perCode[code] == 0 {
			codes = append(codes, code)
		}
		perCode[code]++
	}
	byReferrer := map[string]int64{}
	if len(codes) == 0 {
		return byReferrer, nil
	}
	refs, err := r.rdb.HMGet(ctx, keys.Codes(tenant), codes...).Result()
	if err != nil {
		return nil, fmt.Errorf("reading referral codes of %s: %w", tenant, err)
	}
	for i, code := range codes {
		r, ok := refs[i].(string)
		if !ok {
			r = UnknownReferrer
		}
		byReferrer[r] += perCode[code]
	}
	return byReferrer, nil
}

// ToDateSums reads one scope's to-date sums (as the scripts make them).
func (r *Reader) ToDateSums(ctx context.Context, tenant, scope string, td *periodbuckets.ToDate) (map[string]stats.Counters, error) {
	pipe := r.rdb.Pipeline()
	byYear := make([]map[string]*redis.StringCmd, len(td.Years))
	for i := range td.Years {
		byYear[i] = map[string]*redis.StringCmd{}
	}
	key := td.Keys(tenant, scope)
	for _, fs := range td.Fields {
		for _, f := range fs {
			if _, ok := byYear[f.Slot][f.Field]; !ok {
				byYear[f.Slot][f.Field] = pipe.HGet(ctx, key[f.Slot], f.Field)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading the periods of %s %s: %w", tenant, scope, err)
	}
	out := make(map[string]stats.Counters, len(td.Fields))
	for a, fs := range td.Fields {
		var sum stats.Counters
		for _, f := range fs {
			packed, err := byYear[f.Slot][f.Field].Bytes()
			if errors.Is(err, redis.Nil) {
				continue
			}
			c, err := mpack.UnpackCounters(packed)
			if err != nil {
				return nil, fmt.Errorf("period bucket %s of %s %s: %w", f.Field, tenant, scope, err)
			}
			sum.Add(&c, 1)
		}
		out[period.Aliases[a]] = sum
	}
	return out, nil
}

// PeriodSums returns, per span, the summed counters of a scope's period
// buckets (one round trip for all of them).
func (r *Reader) PeriodSums(ctx context.Context, tenant, scope string, sys period.System, spans []periodbuckets.Span) ([]stats.Counters, error) {
	pipe := r.rdb.Pipeline()
	cmds := make([][]*redis.SliceCmd, len(spans))
	for i, sp := range spans {
		byKey := map[string][]string{}
		var order []string
		for _, b := range sp.Buckets(sys) {
			k, f := periodbuckets.Locate(sys, tenant, scope, b)
			if _, ok := byKey[k]; !ok {
				order = append(order, k)
			}
			byKey[k] = append(byKey[k], f)
		}
		for _, k := range order {
			cmds[i] = append(cmds[i], pipe.HMGet(ctx, k, byKey[k]...))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("reading the periods of %s %s: %w", tenant, scope, err)
	}
	out := make([]stats.Counters, len(spans))
	for i := range spans {
		for _, cmd := range cmds[i] {
			for _, v := range cmd.Val() {
				packed, ok := v.(string)
				if !ok {
					continue
				}
				c, err := mpack.UnpackCounters([]byte(packed))
				if err != nil {
					return nil, fmt.Errorf("a period bucket of %s %s: %w", tenant, scope, err)
				}
				out[i].Add(&c, 1)
			}
		}
	}
	return out, nil
}

// Erasures returns a tenant's erasures: keyed hash → receipt.
func (r *Reader) Erasures(ctx context.Context, tenant string) (map[string]string, error) {
	m, err := r.rdb.HGetAll(ctx, keys.Erased(tenant)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading the erasures of tenant %s: %w", tenant, err)
	}
	return m, nil
}

// Erasure returns the receipt of one erasure ("" when there is none).
func (r *Reader) Erasure(ctx context.Context, tenant, field string) (string, error) {
	receipt, err := r.rdb.HGet(ctx, keys.Erased(tenant), field).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading an erasure of tenant %s: %w", tenant, err)
	}
	return receipt, nil
}

// Index returns a customer's contribution index as stored, its elements
// joined ("" for none).
func (r *Reader) Index(ctx context.Context, tenant, customer string) (string, error) {
	v, err := r.rdb.LRange(ctx, keys.Index(tenant, customer), 0, -1).Result()
	if err != nil {
		return "", fmt.Errorf("reading the contribution index of a customer of tenant %s: %w", tenant, err)
	}
	return strings.Join(v, ""), nil
}

// CommentWords returns the entries of a tenant's comment-word lists of
// the given days (keys.CommentWords), by list key.
func (r *Reader) CommentWords(ctx context.Context, tenant string, days []int64) (map[string][]string, error) {
	pipe := r.rdb.Pipeline()
	cmds := make(map[string]*redis.StringSliceCmd, len(days))
	for _, d := range days {
		k := keys.CommentWords(tenant, d)
		cmds[k] = pipe.LRange(ctx, k, 0, -1)
	}
	if len(cmds) == 0 {
		return nil, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("reading the comment words of tenant %s: %w", tenant, err)
	}
	out := make(map[string][]string, len(cmds))
	for k, c := range cmds {
		out[k] = c.Val()
	}
	return out, nil
}

// CodesOf returns the referral codes that resolve to customer (one scan
// of the tenant's codes).
func (r *Reader) CodesOf(ctx context.Context, tenant, customer string) ([]string, error) {
	var out []string
	it := r.rdb.HScan(ctx, keys.Codes(tenant), 0, "", 1000).Iterator()
	for it.Next(ctx) {
		code := it.Val()
		if !it.Next(ctx) {
			break
		}
		if it.Val() == customer {
			out = append(out, code)
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("scanning the referral codes of tenant %s: %w", tenant, err)
	}
	return out, nil
}

// ErasureCount returns how many erasures a tenant has.
func (r *Reader) ErasureCount(ctx context.Context, tenant string) (int64, error) {
	n, err := r.rdb.HLen(ctx, keys.Erased(tenant)).Result()
	if err != nil {
		return 0, fmt.Errorf("counting the erasures of tenant %s: %w", tenant, err)
	}
	return n, nil
}

// Tenants lists the tenants seen.
func (r *Reader) Tenants(ctx context.Context) ([]string, error) {
	return r.rdb.SMembers(ctx, keys.Tenants).Result()
}

// Dirty returns the scopes of a tenant changed since last published, with
// their seq.
func (r *Reader) Dirty(ctx context.Context, tenant string) (map[string]string, error) {
	return r.rdb.HGetAll(ctx, keys.Dirty(tenant)).Result()
}

// Scopes lists the scopes a tenant has data in.
func (r *Reader) Scopes(ctx context.Context, tenant string) ([]string, error) {
	return r.rdb.SMembers(ctx, keys.Scopes(tenant)).Result()
}

// ScopeCount returns how many scopes a tenant has data in.
func (r *Reader) ScopeCount(ctx context.Context, tenant string) (int, error) {
	n, err := r.rdb.SCard(ctx, keys.Scopes(tenant)).Result()
	if err != nil {
		return 0, fmt.Errorf("counting the scopes of %s: %w", tenant, err)
	}
	return int(n), nil
}
