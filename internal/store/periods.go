package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/mpack"
	"github.com/cxpulse/cxpulse/internal/periodbuckets"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// PeriodDelta adds counters to one calendar-period bucket of one scope
// (package periodbuckets says which buckets there are and where each
// lives).
type PeriodDelta struct {
	Scope    string
	Bucket   periodbuckets.Bucket
	Counters stats.Counters
}

// periodDeltasBlob writes period deltas as the apply script reads them:
// one MessagePack array holding, per delta, the number of its key in KEYS,
// its scope number, its field, and its non-zero counters (see
// mpack.AppendSparse). keyOf numbers the keys.
func periodDeltasBlob(sys period.System, tenant string, deltas []PeriodDelta, scopeIndex map[string]int, keyOf func(string) int) []byte {
	body := make([]byte, 0, 40*len(deltas))
	n := 0
	for i := range deltas {
		d := &deltas[i]
		key, field := periodbuckets.Locate(sys, tenant, d.Scope, d.Bucket)
		body = mpack.AppendInt(body, int64(keyOf(key)))
		body = mpack.AppendInt(body, int64(scopeIndex[d.Scope]))
		body = mpack.AppendString(body, field)
		var k int
		body, k = mpack.AppendSparse(body, &d.Counters)
		n += 3 + k
	}
	return append(mpack.AppendArray(make([]byte, 0, 5+len(body)), n), body...)
}

// rollChunk is how many scopes one roll script call rewrites.
const rollChunk = 200

// RollPeriods rewrites the to-date periods of every scope of a tenant once
// its local day has changed since the last roll (the mark periods:day in
// the watermarks hash): at local midnight today starts again, and the
// week, month, quarter and year at theirs.
func (s *Store) RollPeriods(ctx context.Context, tenant string, sys period.System, now time.Time) error {
	mark, err := s.rdb.HGet(ctx, watermarksKey(tenant), "periods:day").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("reading the period mark of %s: %w", tenant, err)
	}
	today := strconv.FormatInt(sys.Day(now), 10)
	if mark == today {
		return nil
	}
	scopes, err := s.Scopes(ctx, tenant)
	if err != nil {
		return fmt.Errorf("listing the scopes of %s: %w", tenant, err)
	}
	for attempt := 0; ; attempt++ {
		moved, err := s.rollScopes(ctx, tenant, sys, now, scopes)
		if err != nil {
			return err
		}
		if moved.IsZero() {
			break
		}
		if attempt > 3 {
			return fmt.Errorf("rolling the periods of %s: the tenant's clock keeps moving past the local day", tenant)
		}
		now, today = moved, strconv.FormatInt(sys.Day(moved), 10)
	}
	if err := s.rdb.HSet(ctx, watermarksKey(tenant), "periods:day", today).Err(); err != nil {
		return fmt.Errorf("marking the periods of %s rolled: %w", tenant, err)
	}
	return nil
}

// rollScopes runs the roll script over scopes in chunks and writes their views;
// it returns the tenant's clock when that has passed the local day of now.
func (s *Store) rollScopes(ctx context.Context, tenant string, sys period.System, now time.Time, scopes []string) (time.Time, error) {
	td := periodbuckets.ToDateOf(sys, now)
	blob := td.Blob()
	for len(scopes) > 0 {
		chunk := scopes[:min(rollChunk, len(scopes))]
		scopes = scopes[len(chunk):]
		keys := []string{watermarksKey(tenant), dirtyKey(tenant), pendingKey(tenant)}
		args := []any{now.UnixMilli(), td.Until.UnixMilli(), blob, len(td.Years), s.windowsCSV, len(chunk)}
		for _, sc := range chunk {
			keys = append(keys, countersKey(tenant, sc), activeKey(tenant, sc))
			keys = append(keys, td.Keys(tenant, sc)...)
			args = append(args, sc)
		}
		raw, err := s.roll.Run(ctx, s.rdb, keys, args...).Slice()
		if err != nil {
			return time.Time{}, fmt.Errorf("rolling the periods of %s: %w", tenant, err)
		}
		if tag, _ := raw[0].(string); tag == "period_moved" {
			ms, _ := strconv.ParseInt(fmt.Sprint(raw[1]), 10, 64)
			return time.UnixMilli(ms), nil
		}
		views, err := parseTotals(raw, 0)
		if err != nil {
			return time.Time{}, err
		}
		if err := s.writeViews(ctx, tenant, now, views); err != nil {
			return time.Time{}, err
		}
	}
	return time.Time{}, nil
}

// toDateSums reads one scope's to-date sums (as the scripts make them).
func (s *Store) toDateSums(ctx context.Context, tenant, scope string, td *periodbuckets.ToDate) (map[string]stats.Counters, error) {
	pipe := s.rdb.Pipeline()
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
func (s *Store) PeriodSums(ctx context.Context, tenant, scope string, sys period.System, spans []periodbuckets.Span) ([]stats.Counters, error) {
	pipe := s.rdb.Pipeline()
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

// SweepPeriods deletes the period hashes of a tenant that left what is
// kept: every scope's year hashes before the retention (the start of the
// previous year) and its hour hashes more than HoursKeptMonths back, from
// where the last sweep stopped (the marks periods:y and periods:h in the
// watermarks hash). It judges by a day earlier than now, so that a writer
// whose clock is a little behind never writes into a hash already
// deleted.
func (s *Store) SweepPeriods(ctx context.Context, tenant string, sys period.System, now time.Time) error {
	marks, err := s.rdb.HMGet(ctx, watermarksKey(tenant), "periods:y", "periods:h").Result()
	if err != nil {
		return fmt.Errorf("reading the period sweep marks of %s: %w", tenant, err)
	}
	day := sys.Day(now) - 1
	lastYear := int64(sys.Year(sys.RetainedFrom(day))) - 1      // years up to this one are deleted
	lastMonth := sys.Month(day) - periodbuckets.HoursKeptMonths // hour months up to this one are deleted
	type unit struct {
		mark string
		last int64
		done any
		key  func(scope string, n int64) string
	}
	units := []unit{
		{"periods:y", lastYear, marks[0], func(sc string, n int64) string { return periodbuckets.YearKey(tenant, sc, int(n)) }},
		{"periods:h", lastMonth, marks[1], func(sc string, n int64) string { return periodbuckets.HoursKey(tenant, sc, n) }},
	}
	var scopes []string
	for _, u := range units {
		from := u.last // a first sweep has nothing older to delete
		if done, ok := u.done.(string); ok {
			n, err := strconv.ParseInt(done, 10, 64)
			if err != nil {
				return fmt.Errorf("period sweep mark %s of %s: %q is not a number", u.mark, tenant, done)
			}
			from = n + 1
		}
		if from > u.last {
			continue
		}
		if scopes == nil {
			if scopes, err = s.Scopes(ctx, tenant); err != nil {
				return err
			}
		}
		if err := s.dropByName(ctx, tenant, scopes, from, u.last, u.mark, u.key); err != nil {
			return fmt.Errorf("dropping period buckets of %s: %w", tenant, err)
		}
	}
	return nil
}
