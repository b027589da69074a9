package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/periodbuckets"
	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/internal/store/views"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// idsLookback is how many dedupe periods back a tenant's first id sweep
// looks for periods to delete; later sweeps go on from where the last one
// stopped.
const idsLookback = 400

// Sweep drops the buckets that left their windows by now, for one tenant,
// at most limit at a time, rewrites the views of the scopes it changed,
// and forgets the remembered ids of periods past the dedupe horizon; it
// returns how many buckets it dropped.
func (s *Store) Sweep(ctx context.Context, tenant string, sys period.System, now time.Time, limit int) (int, error) {
	if err := s.forgetIDs(ctx, tenant, now); err != nil {
		return 0, err
	}
	for attempt := 0; ; attempt++ {
		n, moved, err := s.sweepAt(ctx, tenant, sys, now, limit)
		if err != nil || moved.IsZero() {
			return n, err
		}
		if attempt > 3 {
			return 0, fmt.Errorf("sweeping %s: the tenant's clock keeps moving past the local day", tenant)
		}
		// Another instance's clock has reached the next local day: sum
		// the to-date periods at the tenant's time.
		now = moved
	}
}

// sweepAt runs the sweep script once at now; it returns the tenant's clock
// instead when that has passed the local day of now.
func (s *Store) sweepAt(ctx context.Context, tenant string, sys period.System, now time.Time, limit int) (int, time.Time, error) {
	members, err := s.rdb.ZRangeByScore(ctx, keys.Expiry(tenant), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(limit),
	}).Result()
	if err != nil || len(members) == 0 {
		return 0, time.Time{}, err
	}
	var scopes []string
	seen := map[string]bool{}
	for _, m := range members {
		sc, _, _ := strings.Cut(m, "\t")
		if !seen[sc] {
			seen[sc] = true
			scopes = append(scopes, sc)
		}
	}
	// The to-date periods go with the windows of a scope whose view is
	// still pending (see flush in scripts.lua).
	td := periodbuckets.ToDateOf(sys, now)
	ks := []string{keys.Watermarks(tenant), keys.Expiry(tenant), keys.Dirty(tenant), keys.Pending(tenant)}
	args := []any{now.UnixMilli(), s.windowsCSV, td.Blob(), len(td.Years), td.Until.UnixMilli(), len(scopes)}
	for _, sc := range scopes {
		ks = append(ks, keys.Counters(tenant, sc), keys.Active(tenant, sc))
		args = append(args, sc)
	}
	for _, sc := range scopes {
		ks = append(ks, td.Keys(tenant, sc)...)
	}
	for _, m := range members {
		args = append(args, m)
	}
	raw, err := s.sweep.Run(ctx, s.rdb, ks, args...).Slice()
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("sweeping tenant %s: %w", tenant, err)
	}
	if tag, _ := raw[0].(string); tag == "period_moved" {
		ms, err := strconv.ParseInt(fmt.Sprint(raw[1]), 10, 64)
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("sweep script answered %q", raw)
		}
		return 0, time.UnixMilli(ms), nil
	}
	n64, _ := raw[0].(int64)
	n := int(n64)
	views, err := views.ParseTotals(raw, 1)
	if err != nil {
		return n, time.Time{}, err
	}
	return n, time.Time{}, s.Writer.Write(ctx, tenant, now, views)
}

// forgetIDs deletes the id periods older than the previous one (the apply
// script reads the current and the previous), from the first one not yet
// deleted (recorded in the watermarks hash), so that after an outage of
// any length none is left behind.
func (s *Store) forgetIDs(ctx context.Context, tenant string, now time.Time) error {
	last := now.UnixMilli()/s.horizon.Milliseconds() - 2
	from := last - idsLookback
	mark, err := s.rdb.HGet(ctx, keys.Watermarks(tenant), "ids:next").Result()
	switch {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return fmt.Errorf("reading the id sweep mark of %s: %w", tenant, err)
	default:
		if from, err = strconv.ParseInt(mark, 10, 64); err != nil {
			return fmt.Errorf("id sweep mark of %s: %q is not a period", tenant, mark)
		}
	}
	if from > last {
		return nil
	}
	pipe := s.rdb.Pipeline()
	for p := from; p <= last; p++ {
		pipe.Del(ctx, keys.IDs(tenant, p))
	}
	pipe.HSet(ctx, keys.Watermarks(tenant), "ids:next", last+1)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("forgetting ids of tenant %s: %w", tenant, err)
	}
	return nil
}

// SweepThemes deletes the theme buckets of a tenant whose time is up:
// every scope's (and keys.OthersGroup's) hour buckets that ended more than ThemeHourKept ago and
// day buckets more than ThemeDayKept ago (or than retention, the tenant's
// comment_retention, when shorter), with the day's comment-word list,
// from where the last sweep stopped (recorded in the watermarks hash).
func (s *Store) SweepThemes(ctx context.Context, tenant string, now time.Time, retention time.Duration) error {
	marks, err := s.rdb.HMGet(ctx, keys.Watermarks(tenant), "themes:h", "themes:d").Result()
	if err != nil {
		return fmt.Errorf("reading theme sweep marks of %s: %w", tenant, err)
	}
	type unit struct {
		prefix, mark     string
		size, kept, look time.Duration
		done             any
	}
	units := []unit{{"h", "themes:h", time.Hour, ThemeHourKept, ThemeHourKept, marks[0]}, {"d", "themes:d", 24 * time.Hour, ThemeDayKept, ThemeDayKept, marks[1]}}
	for i := range units {
		if retention > 0 && retention < units[i].kept {
			units[i].kept = retention // comment words go with the comment_retention
		}
	}
	var scopes []string
	for _, u := range units {
		// Buckets up to `last` are due: they ended `kept` ago.
		last := now.Add(-u.kept).UnixMilli()/u.size.Milliseconds() - 1
		from := last - 2*int64(u.look/u.size) // a first sweep looks back this far
		if done, ok := u.done.(string); ok {
			n, _ := strconv.ParseInt(done, 10, 64)
			from = max(n+1, last-int64(40*24*time.Hour/u.size)) // bounded after a long outage (40 days)
		}
		if from > last {
			continue
		}
		if scopes == nil {
			if scopes, err = s.Scopes(ctx, tenant); err != nil {
				return err
			}
		}
		key := func(sc string, b int64) string {
			if sc == "" {
				// The day's comment words go with its theme buckets.
				return keys.CommentWords(tenant, b)
			}
			return keys.Terms(tenant, sc, u.prefix+strconv.FormatInt(b, 10))
		}
		names := append(slices.Clip(scopes), keys.OthersGroup)
		if u.prefix == "d" {
			names = append(names, "")
		}
		if err := s.dropByName(ctx, tenant, names, from, last, u.mark, key); err != nil {
			return fmt.Errorf("dropping theme buckets of %s: %w", tenant, err)
		}
	}
	return nil
}

// dropByName deletes, for every scope, the keys numbered from to last
// (key names them), in pipelined chunks, then records last in the
// watermarks hash under mark, so the next sweep goes on from there.
func (s *Store) dropByName(ctx context.Context, tenant string, scopes []string, from, last int64, mark string, key func(scope string, n int64) string) error {
	pipe := s.rdb.Pipeline()
	for n := from; n <= last; n++ {
		for _, sc := range scopes {
			pipe.Del(ctx, key(sc, n))
		}
		if pipe.Len() > 1000 {
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
		}
	}
	pipe.HSet(ctx, keys.Watermarks(tenant), mark, last)
	_, err := pipe.Exec(ctx)
	return err
}

// PruneConversions drops the referral conversions that began before the
// given instant (unix ms): no window holds them any more.
func (s *Store) PruneConversions(ctx context.Context, tenant string, before int64) error {
	if err := s.rdb.ZRemRangeByScore(ctx, keys.Conversions(tenant), "-inf", "("+strconv.FormatInt(before, 10)).Err(); err != nil {
		return fmt.Errorf("pruning conversions of %s: %w", tenant, err)
	}
	return nil
}
