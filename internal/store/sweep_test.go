package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/store/keys"
)

// TestSweepThemesAfterAGap: theme day buckets (and their days'
// comment-word lists) that fell due while no sweep ran, several days in a
// row, are all deleted by the next sweep; a day not yet due stays.
func TestSweepThemesAfterAGap(t *testing.T) {
	s, rdb := newStoreWith(t, "1h,24h")
	ctx := t.Context()
	start := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	first := start.Unix() / 86400
	var terms []store.TermDelta
	for d := range int64(10) {
		terms = append(terms, store.TermDelta{Scope: "all", Bucket: fmt.Sprintf("d%d", first+d), Term: "refund", N: 1})
		require.NoError(t, rdb.RPush(ctx, fmt.Sprintf("cxpulse:{acme}:cw:d%d", first+d), "entry").Err())
	}
	require.NoError(t, rdb.SAdd(ctx, keys.Scopes("acme"), "all").Err()) // a scope with data
	var seq sequence
	seq.apply(t, s, &store.Slice{Tenant: "acme", Now: start.Add(10 * 24 * time.Hour), Terms: terms})
	const retention = 2 * 24 * time.Hour
	// Day first+d is due once it ended retention ago: at first+d+3.
	require.NoError(t, s.SweepThemes(ctx, "acme", start.Add(3*24*time.Hour), retention))
	require.NoError(t, s.SweepThemes(ctx, "acme", start.Add(8*24*time.Hour), retention)) // five days later
	for d := range int64(10) {
		left := rdb.Exists(ctx, fmt.Sprintf("cxpulse:{acme}:terms:all:d%d", first+d), fmt.Sprintf("cxpulse:{acme}:cw:d%d", first+d)).Val()
		if d <= 5 {
			require.Zero(t, left, "day %d is due", d)
		} else {
			require.EqualValues(t, 2, left, "day %d is not due", d)
		}
	}
}
