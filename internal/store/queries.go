package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/customers"
	"github.com/cxpulse/cxpulse/internal/mpack"
	"github.com/cxpulse/cxpulse/internal/stats"
)

// View returns the public view hash of one scope.
func (s *Store) View(ctx context.Context, tenant, scope string) (map[string]string, error) {
	v, err := s.rdb.HGetAll(ctx, ViewKey(tenant, scope)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading the view of %s %s: %w", tenant, scope, err)
	}
	return v, nil
}

// WindowTotals returns the totals of one window for each of the scopes
// (absent: the scope has none), in one round trip.
func (s *Store) WindowTotals(ctx context.Context, tenant, window string, scopes []string) (map[string]stats.Counters, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(scopes))
	for i, sc := range scopes {
		cmds[i] = pipe.HGet(ctx, countersKey(tenant, sc), window+":t")
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
func (s *Store) Buckets(ctx context.Context, tenant, scope, window string, buckets []int64) (map[int64]stats.Counters, error) {
	fields := make([]string, len(buckets))
	for i, b := range buckets {
		fields[i] = window + ":" + strconv.FormatInt(b, 10)
	}
	vals, err := s.rdb.HMGet(ctx, countersKey(tenant, scope), fields...).Result()
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
func (s *Store) ScopeCounters(ctx context.Context, tenant, scope string) (*ScopeCounters, error) {
	h, err := s.rdb.HGetAll(ctx, countersKey(tenant, scope)).Result()
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

// TermCounts sums the theme term counts of the given buckets ("h<hour>"
// or "d<day>") of one scope.
func (s *Store) TermCounts(ctx context.Context, tenant, scope string, buckets []string) (map[string]int64, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(buckets))
	for i, b := range buckets {
		cmds[i] = pipe.HGetAll(ctx, termsKey(tenant, scope, b))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading theme terms of %s %s: %w", tenant, scope, err)
	}
	out := map[string]int64{}
	for _, c := range cmds {
		for term, v := range c.Val() {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("theme term %q of %s %s: %q is not a count", term, tenant, scope, v)
			}
			out[term] += n
		}
	}
	return out, nil
}

// Samples returns the recent detractor comments of a scope, newest first.
func (s *Store) Samples(ctx context.Context, tenant, scope string) ([]Sample, error) {
	raw, err := s.rdb.LRange(ctx, samplesKey(tenant, scope), 0, SamplesKept-1).Result()
	if err != nil {
		return nil, fmt.Errorf("reading comment samples of %s %s: %w", tenant, scope, err)
	}
	out := make([]Sample, 0, len(raw))
	for _, r := range raw {
		var smp Sample
		if err := json.Unmarshal([]byte(r), &smp); err != nil {
			return nil, fmt.Errorf("comment sample of %s %s: %w", tenant, scope, err)
		}
		out = append(out, smp)
	}
	return out, nil
}

// Customers returns the stored records of the given customers of a tenant;
// a customer without one is absent from the map.
func (s *Store) Customers(ctx context.Context, tenant string, ids []string) (map[string]*customers.StoredRecord, error) {
	out := make(map[string]*customers.StoredRecord, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	vals, err := s.rdb.HMGet(ctx, customersKey(tenant), ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("reading customers of %s: %w", tenant, err)
	}
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		rec, err := parseCustomerRecord(ids[i], str)
		if err != nil {
			return nil, err
		}
		out[ids[i]] = rec
	}
	return out, nil
}

// DueCustomers returns up to limit customers of a tenant whose records must
// be looked at by now (an inactivity loss or history to forget is due).
func (s *Store) DueCustomers(ctx context.Context, tenant string, now time.Time, limit int) ([]string, error) {
	ids, err := s.rdb.ZRangeByScore(ctx, customersDueKey(tenant), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("reading due customers of %s: %w", tenant, err)
	}
	return ids, nil
}

// PruneConversions drops the referral conversions that began before the
// given instant (unix ms): no window holds them any more.
func (s *Store) PruneConversions(ctx context.Context, tenant string, before int64) error {
	if err := s.rdb.ZRemRangeByScore(ctx, conversionsKey(tenant), "-inf", "("+strconv.FormatInt(before, 10)).Err(); err != nil {
		return fmt.Errorf("pruning conversions of %s: %w", tenant, err)
	}
	return nil
}

// UnknownReferrer stands for the referrer of a code whose referral.sent
// was never seen.
const UnknownReferrer = "unknown"

// ConversionsByReferrer counts, per referrer, the referral conversions
// (first purchases carrying their code) of a tenant whose purchase is at
// or after since (unix ms). Codes are resolved to referrers as they are
// read; a code never sent counts for UnknownReferrer.
func (s *Store) ConversionsByReferrer(ctx context.Context, tenant string, since int64) (map[string]int64, error) {
	members, err := s.rdb.ZRangeByScore(ctx, conversionsKey(tenant), &redis.ZRangeBy{
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
	refs, err := s.rdb.HMGet(ctx, codesKey(tenant), codes...).Result()
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
