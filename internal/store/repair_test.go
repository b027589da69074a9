package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// TestRepairViews: a crash between a slice's script and its view write
// leaves the view pending; RepairViews rewrites it from the totals once it finds it
// still pending at the same version as at its call before.
func TestRepairViews(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	w1h := s.Windows()[0]
	c := nps(10)
	res, err := s.ApplyScript(ctx, &store.Slice{Tenant: "acme", Ranges: []store.Range{{Partition: "cx.surveys/0", Epoch: 1, Start: 0, End: 1}}, Now: now,
		Deltas: []store.Delta{{Scope: "store=9", Window: 0, Bucket: w1h.Index(now), Counters: c}}})
	require.NoError(t, err)
	require.Equal(t, store.Applied, res.Outcome)
	v, err := s.View(ctx, "acme", "store=9")
	require.NoError(t, err)
	require.Empty(t, v, "a crash right after the script leaves the view unwritten")

	repair := func(at time.Time) int {
		t.Helper()
		left, err := s.RepairViews(ctx, "acme", period.UTC, at)
		require.NoError(t, err)
		return left
	}
	require.Equal(t, 1, repair(now), "the view is left for the next call")
	v, err = s.View(ctx, "acme", "store=9")
	require.NoError(t, err)
	require.Empty(t, v, "pending for the first time: it may be being written")
	require.Zero(t, repair(now))
	v, err = s.View(ctx, "acme", "store=9")
	require.NoError(t, err)
	require.Equal(t, "1", v["1h:nps_responses"])
	require.Equal(t, "100", v["1h:nps"])
	require.Equal(t, "0", v["24h:nps_responses"])
	require.Equal(t, "1", v["seq"])
	// Nothing is pending any more; writing an older version changes nothing.
	require.Zero(t, repair(now.Add(time.Minute)))
	v2, err := s.View(ctx, "acme", "store=9")
	require.NoError(t, err)
	require.Equal(t, v, v2)
}
