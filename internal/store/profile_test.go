package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// TestScriptProfile: a profiling store applies, writes views and sweeps
// as any store does, and its scripts leave the Redis time of their
// sections in the tenant's profile hash, which ScriptProfile sums and
// clears.
func TestScriptProfile(t *testing.T) {
	s, rdb := newStoreWith(t, "1h,24h")
	s.ProfileScripts()
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	at := now.Add(-10 * time.Minute)
	ws := s.Windows()
	res, err := s.Apply(ctx, &store.Slice{Tenant: "acme", Now: now,
		Ranges:  []store.Range{{Partition: "cx.surveys/0", Epoch: 1, Start: 0, End: 1}},
		IDs:     []dedupe.Check{{ID: "a", Expect: dedupe.NewEvent}},
		Records: []dedupe.Record{{ID: "a", Arrival: now, OccurredAt: at, Type: "survey.response", Scopes: []string{"all"}, Counters: nps(3)}},
		Deltas: []store.Delta{{Scope: "all", Window: 0, Bucket: ws[0].Index(at), Counters: nps(3)},
			{Scope: "all", Window: 1, Bucket: ws[1].Index(at), Counters: nps(3)}}})
	require.NoError(t, err)
	require.Equal(t, store.Applied, res.Outcome)
	v, err := s.View(ctx, "acme", "all")
	require.NoError(t, err)
	require.Equal(t, "1", v["1h:nps_detractors"], "the profiled scripts count as the plain ones")
	n, err := s.Sweep(ctx, "acme", period.UTC, now.Add(time.Hour), 100)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the 1h bucket left its window")

	prof, err := store.ScriptProfile(ctx, rdb, []string{"acme"})
	require.NoError(t, err)
	var sections []string
	var total int64
	for k, us := range prof {
		require.GreaterOrEqual(t, us, int64(0), k)
		sections = append(sections, k)
		total += us
	}
	require.Positive(t, total, "three script calls took some Redis time")
	for _, want := range []string{"apply.start", "apply.checks", "apply.ids", "apply.buckets", "apply.totals", "apply.watermarks",
		"view.write", "sweep.expire", "sweep.totals"} {
		require.Contains(t, sections, want)
	}
	for _, k := range sections {
		require.False(t, strings.HasSuffix(k, ".end"), "the end mark closes, it times nothing: %s", k)
	}
	require.Zero(t, rdb.Exists(ctx, keys.Profile("acme")).Val(), "read once, cleared")
}
