package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/periodbuckets"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// TestViewWriteOvertaken: a slice's script has run but its view write has
// not landed yet when the sweeper's roll or sweep script bumps the same
// scope's version and writes its own view first. The slice's write, older,
// is then refused, so the sweeper's must carry every section the slice
// changed: its windows and its to-date periods.
func TestViewWriteOvertaken(t *testing.T) {
	for _, overtaker := range []string{"roll", "sweep"} {
		t.Run(overtaker, func(t *testing.T) {
			s, _ := newStoreWith(t, "1h,24h")
			ctx := t.Context()
			sys := period.UTC
			now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
			later := now.Add(3 * time.Minute)
			w1h, w24h := s.Windows()[0], s.Windows()[1]
			var seq sequence
			// A response in 1h at now; for the sweep to drop, one that
			// leaves 1h at now + 2 min.
			early := now.Add(-30 * time.Minute)
			if overtaker == "sweep" {
				early = now.Add(-58 * time.Minute)
			}
			seq.apply(t, s, &store.Slice{Tenant: "acme", Now: now, Periods: sys, Deltas: []store.Delta{
				{Scope: "all", Window: 0, Bucket: w1h.Index(early), Counters: nps(10)},
				{Scope: "all", Window: 1, Bucket: w24h.Index(early), Counters: nps(10)},
			}})
			if overtaker == "sweep" {
				// The day is rolled already: only the sweep moves the scope.
				require.NoError(t, s.RollPeriods(ctx, "acme", sys, now))
			}
			// The slice: a detractor now, in 1h, 24h and today; script only.
			res, err := s.ApplyScript(ctx, &store.Slice{Tenant: "acme", Now: now, Periods: sys,
				Ranges: []store.Range{{Partition: "cx.surveys/0", Epoch: 1, Start: seq.offset, End: seq.offset + 1}},
				Deltas: []store.Delta{
					{Scope: "all", Window: 0, Bucket: w1h.Index(now), Counters: nps(2)},
					{Scope: "all", Window: 1, Bucket: w24h.Index(now), Counters: nps(2)},
				},
				PeriodDeltas: []store.PeriodDelta{
					{Scope: "all", Bucket: periodbuckets.Bucket{Unit: periodbuckets.Day, Index: sys.Day(now)}, Counters: nps(2)},
					{Scope: "all", Bucket: periodbuckets.Bucket{Unit: periodbuckets.Month, Index: sys.Month(sys.Day(now))}, Counters: nps(2)},
				},
			})
			require.NoError(t, err)
			require.Equal(t, store.Applied, res.Outcome)

			// The sweeper overtakes it.
			want1h := "2"
			switch overtaker {
			case "roll":
				require.NoError(t, s.RollPeriods(ctx, "acme", sys, later))
			case "sweep":
				n, err := s.Sweep(ctx, "acme", sys, later, 100)
				require.NoError(t, err)
				require.Equal(t, 1, n, "the early response left 1h")
				want1h = "1"
			}
			require.NoError(t, s.WriteViews(ctx, "acme", now, res.Views))

			v, err := s.View(ctx, "acme", "all")
			require.NoError(t, err)
			require.Equal(t, want1h, v["1h:nps_responses"])
			require.Equal(t, "1", v["1h:nps_detractors"])
			require.Equal(t, "2", v["24h:nps_responses"])
			require.Equal(t, "1", v["24h:nps_detractors"])
			require.Equal(t, "1", v["today:nps_responses"])
			require.Equal(t, "1", v["today:nps_detractors"])
			require.Equal(t, "1", v["mtd:nps_responses"])
		})
	}
}

// TestFlushPendingViews: when a slice turns out to be applied already (the
// answer to its script was lost), the applier writes the views it left
// pending at once, before committing, rather than leaving them to the
// sweeper's second look.
func TestFlushPendingViews(t *testing.T) {
	s, _ := newStoreWith(t, "1h,24h")
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	w1h := s.Windows()[0]
	res, err := s.ApplyScript(ctx, &store.Slice{Tenant: "acme", Now: now,
		Ranges: []store.Range{{Partition: "cx.surveys/0", Epoch: 1, Start: 0, End: 1}},
		Deltas: []store.Delta{{Scope: "store=9", Window: 0, Bucket: w1h.Index(now), Counters: nps(10)}}})
	require.NoError(t, err)
	require.Equal(t, store.Applied, res.Outcome)
	require.NoError(t, s.FlushPendingViews(ctx, "acme", period.UTC, now))
	v, err := s.View(ctx, "acme", "store=9")
	require.NoError(t, err)
	require.Equal(t, "1", v["1h:nps_responses"])
	require.Equal(t, "100", v["1h:nps"])
	require.Equal(t, "0", v["today:nps_responses"])
}

// TestViewWritersAfterRebuild: two aggregators' stores write the same
// scope's view; the tenant is dropped for a rebuild, so versions start
// again. The first store's memory of its last write then names a version
// that the other store's write holds: its next write must be a full one,
// not a change to what it remembers.
func TestViewWritersAfterRebuild(t *testing.T) {
	a, rdb := newStoreWith(t, "1h,24h")
	b := store.New(rdb, a.Windows(), 24*time.Hour)
	now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	bucket := a.Windows()[0].Index(now)
	slice := func(score int) *store.Slice {
		return &store.Slice{Tenant: "acme", Now: now, Deltas: []store.Delta{{Scope: "all", Window: 0, Bucket: bucket, Counters: nps(score)}}}
	}
	var seq sequence
	seq.apply(t, a, slice(10)) // a remembers version 1: one promoter
	require.NoError(t, rdb.FlushAll(t.Context()).Err())
	seq = sequence{}
	seq.apply(t, b, slice(2))  // version 1 again, by b: one detractor
	seq.apply(t, a, slice(10)) // version 2, by a
	v, err := a.View(t.Context(), "acme", "all")
	require.NoError(t, err)
	require.Equal(t, "2", v["1h:nps_responses"])
	require.Equal(t, "1", v["1h:nps_promoters"])
	require.Equal(t, "1", v["1h:nps_detractors"])
	require.Equal(t, "0", v["1h:nps"])
}
