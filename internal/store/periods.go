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
	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/internal/store/views"
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
	mark, err := s.rdb.HGet(ctx, keys.Watermarks(tenant), "periods:day").Result()
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
	if err := s.rdb.HSet(ctx, keys.Watermarks(tenant), "periods:day", today).Err(); err != nil {
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
		ks := []string{keys.Watermarks(tenant), keys.Dirty(tenant), keys.Pending(tenant)}
		args := []any{now.UnixMilli(), td.Until.UnixMilli(), blob, len(td.Years), s.windowsCSV, len(chunk)}
		for _, sc := range chunk {
			ks = append(ks, keys.Counters(tenant, sc), keys.Active(tenant, sc))
			ks = append(ks, td.Keys(tenant, sc)...)
			args = append(args, sc)
		}
		raw, err := s.roll.Run(ctx, s.rdb, ks, args...).Slice()
		if err != nil {
			return time.Time{}, fmt.Errorf("rolling the periods of %s: %w", tenant, err)
		}
		if tag, _ := raw[0].(string); tag == "period_moved" {
			ms, _ := strconv.ParseInt(fmt.Sprint(raw[1]), 10, 64)
			return time.UnixMilli(ms), nil
		}
		views, err := views.ParseTotals(raw, 0)
		if err != nil {
			return time.Time{}, err
		}
		if err := s.Writer.Write(ctx, tenant, now, views); err != nil {
			return time.Time{}, err
		}
	}
	return time.Time{}, nil
}

// SweepPeriods deletes the period hashes of a tenant that left what is
// kept: every scope's year hashes before the retention (the start of the
// previous year) and its hour hashes more than HoursKeptMonths back, from
// where the last sweep stopped (the marks periods:y and periods:h in the
// watermarks hash). It judges by a day earlier than now, so that a writer
// whose clock is a little behind never writes into a hash already
// deleted.
func (s *Store) SweepPeriods(ctx context.Context, tenant string, sys period.System, now time.Time) error {
	marks, err := s.rdb.HMGet(ctx, keys.Watermarks(tenant), "periods:y", "periods:h").Result()
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
