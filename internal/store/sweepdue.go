package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// A tenant's next sweep is due at the earliest of: a bucket leaving its
// window (the expiry index), a customer record due (the customers' due
// index), the next local day (to-date periods roll, period hashes go), the
// next dedupe period (ids are forgotten), the next hour (theme buckets
// go), and, while comment samples are kept for a limited time, the next
// look at them. Writers lower the mark when they add something due
// earlier (MarkSweepDue); the sweeper takes due tenants (ClaimDue) and
// sets the mark again when done (SweepDone). Tuning in docs/scaling.md.

// claimScript moves the tenants whose claim ran out (a sweeper that
// stopped) back among the due, then takes up to ARGV[3] tenants due by
// ARGV[1] (unix ms), recording them as claimed until ARGV[2]. It only
// moves members: the times are the caller's.
var claimScript = redis.NewScript(`
for _, t in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])) do
  redis.call('ZADD', KEYS[1], 'LT', ARGV[1], t)
  redis.call('ZREM', KEYS[2], t)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, t in ipairs(due) do
  redis.call('ZREM', KEYS[1], t)
  redis.call('ZADD', KEYS[2], ARGV[2], t)
end
return due`)

// ClaimDue takes up to n tenants whose sweep is due by now, for claimFor:
// a tenant not marked done by then is due again.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, claimFor time.Duration, n int) ([]string, error) {
	ts, err := claimScript.Run(ctx, s.rdb, []string{keys.SweepDue, keys.SweepClaimed},
		now.UnixMilli(), now.Add(claimFor).UnixMilli(), n).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("claiming the tenants due a sweep: %w", err)
	}
	return ts, nil
}

// MarkSweepDue makes the tenants' next sweep due by at (or earlier, if it
// already is).
func (s *Store) MarkSweepDue(ctx context.Context, at time.Time, tenants ...string) error {
	if len(tenants) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	s.markSweepDue(ctx, pipe, at, tenants...)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("marking %d tenants due a sweep: %w", len(tenants), err)
	}
	return nil
}

// markSweepDue queues MarkSweepDue's command on pipe.
func (s *Store) markSweepDue(ctx context.Context, pipe redis.Pipeliner, at time.Time, tenants ...string) {
	zs := make([]redis.Z, len(tenants))
	for i, t := range tenants {
		zs[i] = redis.Z{Score: float64(at.UnixMilli()), Member: t}
	}
	pipe.ZAddLT(ctx, keys.SweepDue, zs...)
}

// SweepDone records that a claimed tenant was swept and its next sweep is
// due at next (or earlier, if a writer marked it so meanwhile).
func (s *Store) SweepDone(ctx context.Context, tenant string, next time.Time) error {
	pipe := s.rdb.TxPipeline()
	pipe.ZAddLT(ctx, keys.SweepDue, redis.Z{Score: float64(next.UnixMilli()), Member: tenant})
	pipe.ZRem(ctx, keys.SweepClaimed, tenant)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("recording the sweep of %s: %w", tenant, err)
	}
	return nil
}

// NextSweep is when the tenant's next sweep is due, as of now (just
// swept): see the rule above. samplesFor is the tenant's
// comment_retention (0: kept until replaced).
func (s *Store) NextSweep(ctx context.Context, tenant string, sys period.System, now time.Time, samplesFor time.Duration) (time.Time, error) {
	next := sys.Start(sys.Day(now) + 1)
	earlier := func(t time.Time) {
		if t.Before(next) {
			next = t
		}
	}
	earlier(now.Truncate(time.Hour).Add(time.Hour))
	earlier(time.UnixMilli((now.UnixMilli()/s.horizon.Milliseconds() + 1) * s.horizon.Milliseconds()))
	if samplesFor > 0 {
		earlier(now.Add(samplesSweepEvery))
	}
	pipe := s.rdb.Pipeline()
	exp := pipe.ZRangeWithScores(ctx, keys.Expiry(tenant), 0, 0)
	cust := pipe.ZRangeWithScores(ctx, keys.CustomersDue(tenant), 0, 0)
	if _, err := pipe.Exec(ctx); err != nil {
		return time.Time{}, fmt.Errorf("reading when %s is next due: %w", tenant, err)
	}
	for _, first := range [][]redis.Z{exp.Val(), cust.Val()} {
		if len(first) > 0 {
			earlier(time.UnixMilli(int64(first[0].Score)))
		}
	}
	if !next.After(now) {
		next = now.Add(time.Millisecond) // due already: the next round
	}
	return next, nil
}

// sweepDueIn is the earliest of the expiry times of the deltas and the due
// times of the customers of a slice, zero when none.
func (s *Store) sweepDueIn(sl *Slice) time.Time {
	var due int64
	earliest := func(ms int64) {
		if ms > 0 && (due == 0 || ms < due) {
			due = ms
		}
	}
	for i := range sl.Deltas {
		earliest(s.windows[sl.Deltas[i].Window].Leaves(sl.Deltas[i].Bucket).UnixMilli())
	}
	for i := range sl.Customers {
		earliest(sl.Customers[i].Due)
	}
	if due == 0 {
		return time.Time{}
	}
	return time.UnixMilli(due)
}
