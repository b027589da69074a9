package store_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// dueAt reads when a tenant's sweep is due, zero when it is not in the
// due set.
func dueAt(t *testing.T, rdb *redis.Client, tenant string) time.Time {
	t.Helper()
	ms, err := rdb.ZScore(t.Context(), keys.SweepDue, tenant).Result()
	if err == redis.Nil {
		return time.Time{}
	}
	require.NoError(t, err)
	return time.UnixMilli(int64(ms)).UTC()
}

// TestSweepDue: a slice marks its tenant due when its first bucket leaves
// a window; a sweeper takes a due tenant once, gets it back when its claim
// runs out, and a writer's earlier mark made while it sweeps survives the
// sweeper's own.
func TestSweepDue(t *testing.T) {
	s, rdb := newStoreWith(t, "1h,24h")
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 10, 30, 20, 0, time.UTC)
	sl := &store.Slice{Tenant: "acme", Ranges: []store.Range{{Partition: "cx.surveys/0", Epoch: 1, Start: 0, End: 1}}, Now: now}
	for wi, w := range s.Windows() {
		sl.Deltas = append(sl.Deltas, store.Delta{Scope: "all", Window: wi, Bucket: w.Index(now), Counters: nps(10)})
	}
	res, err := s.Apply(ctx, sl)
	require.NoError(t, err)
	require.Equal(t, store.Applied, res.Outcome)
	// 1h has 2-minute buckets: [10:30, 10:32) is in the window while its
	// start is after now − 1h, so it leaves at 11:30; 24h's hour bucket
	// [10:00, 11:00) leaves at 10:00 the next day.
	leaves := time.Date(2026, 11, 22, 11, 30, 0, 0, time.UTC)
	require.Equal(t, leaves, dueAt(t, rdb, "acme"))

	none, err := s.ClaimDue(ctx, leaves.Add(-time.Millisecond), time.Minute, 10)
	require.NoError(t, err)
	require.Empty(t, none, "not due before the bucket leaves")
	got, err := s.ClaimDue(ctx, leaves, time.Minute, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"acme"}, got)
	got, err = s.ClaimDue(ctx, leaves.Add(30*time.Second), time.Minute, 10)
	require.NoError(t, err)
	require.Empty(t, got, "taken by the first sweeper")
	got, err = s.ClaimDue(ctx, leaves.Add(time.Minute), time.Minute, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"acme"}, got, "the first sweeper's claim ran out")

	// While it is swept, a writer adds a bucket leaving at 11:40.
	require.NoError(t, s.MarkSweepDue(ctx, leaves.Add(10*time.Minute), "acme"))
	require.NoError(t, s.SweepDone(ctx, "acme", leaves.Add(time.Hour)))
	require.Equal(t, leaves.Add(10*time.Minute), dueAt(t, rdb, "acme"))
	got, err = s.ClaimDue(ctx, leaves.Add(5*time.Minute), time.Minute, 10)
	require.NoError(t, err)
	require.Empty(t, got, "done: no claim left to run out")
}

// TestNextSweep: the next sweep is due at the earliest of the next local
// midnight, the next hour, the next dedupe period, a bucket leaving, a
// customer due and, with a comment retention, the next look at samples.
func TestNextSweep(t *testing.T) {
	s, rdb := newStoreWith(t, "1h,24h")
	ctx := t.Context()
	tehran, err := time.LoadLocation("Asia/Tehran")
	require.NoError(t, err)
	sys := period.System{Loc: tehran, Calendar: period.Persian, WeekStart: time.Saturday}
	// 20:10 UTC is 23:40 in Tehran (+03:30): its midnight is 20:30 UTC,
	// before the next hour (21:00) and the next dedupe period (00:00).
	now := time.Date(2026, 11, 22, 20, 10, 0, 0, time.UTC)
	next, err := s.NextSweep(ctx, "acme", sys, now, 0)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 11, 22, 20, 30, 0, 0, time.UTC), next.UTC())
	next, err = s.NextSweep(ctx, "acme", period.UTC, now, 0)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 11, 22, 21, 0, 0, 0, time.UTC), next.UTC(), "UTC: the next hour")
	next, err = s.NextSweep(ctx, "acme", period.UTC, now, 24*time.Hour)
	require.NoError(t, err)
	require.Equal(t, now.Add(10*time.Minute), next.UTC(), "samples kept a day are looked at every 10 minutes")

	require.NoError(t, rdb.ZAdd(ctx, keys.CustomersDue("acme"), redis.Z{Score: float64(now.Add(7 * time.Minute).UnixMilli()), Member: "c1"}).Err())
	next, err = s.NextSweep(ctx, "acme", sys, now, 0)
	require.NoError(t, err)
	require.Equal(t, now.Add(7*time.Minute), next.UTC(), "a customer due")
	require.NoError(t, rdb.ZAdd(ctx, keys.Expiry("acme"), redis.Z{Score: float64(now.Add(3 * time.Minute).UnixMilli()), Member: "all\t1h\t1"}).Err())
	next, err = s.NextSweep(ctx, "acme", sys, now, 0)
	require.NoError(t, err)
	require.Equal(t, now.Add(3*time.Minute), next.UTC(), "a bucket leaving")
	require.NoError(t, rdb.ZAdd(ctx, keys.Expiry("acme"), redis.Z{Score: float64(now.Add(-time.Minute).UnixMilli()), Member: "all\t1h\t0"}).Err())
	next, err = s.NextSweep(ctx, "acme", sys, now, 0)
	require.NoError(t, err)
	require.Equal(t, now.Add(time.Millisecond), next.UTC(), "overdue: the next round")
}
