package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store"
)

// TestMemoryPerScope fills every bucket of every default window of 20
// scopes with every counter set (the worst case) and remembers 10,000 ids,
// then measures with MEMORY USAGE: a scope must stay within 64 KiB
// (DESIGN §9). The figures are logged for docs/redis.md.
func TestMemoryPerScope(t *testing.T) {
	s, rdb := newStoreWith(t, "1h,24h,7d,30d,90d")
	ws := s.Windows()
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var full stats.Counters
	for i := range full {
		full[i] = float64(1000 + i*37)
	}
	full[stats.FirstResponseSq], full[stats.HandleSq] = 123456.789, 98765.4321
	const scopes = 20
	var offset int64
	for sc := range scopes {
		var deltas []store.Delta
		for wi, w := range ws {
			first, last := w.Span(now)
			for b := first; b <= last; b++ {
				deltas = append(deltas, store.Delta{Scope: fmt.Sprintf("store=s%02d", sc), Window: wi, Bucket: b, Counters: full})
			}
		}
		res, err := s.Apply(ctx, &store.Slice{Tenant: "acme", Ranges: []store.Range{{Partition: "cx.surveys/0", Epoch: 1, Start: offset, End: offset + 1}}, Now: now, Deltas: deltas})
		require.NoError(t, err)
		require.Equal(t, store.Applied, res.Outcome)
		offset++
	}
	const ids = 10000
	for batch := 0; batch < ids; batch += 500 {
		var recs []dedupe.Record
		var checks []dedupe.Check
		for i := batch; i < batch+500; i++ {
			id := fmt.Sprintf("evt-%08d", i)
			checks = append(checks, dedupe.Check{ID: id, Expect: dedupe.NewEvent})
			recs = append(recs, dedupe.Record{ID: id, Arrival: now, OccurredAt: now.Add(-time.Minute), Type: "survey.response",
				Scopes: []string{"all", "store=s01", "region=eu", "channel=web"}, Counters: stats.Counters{1, 1}, CustomerID: "customer-0001"})
		}
		res, err := s.Apply(ctx, &store.Slice{Tenant: "acme", Ranges: []store.Range{{Partition: "cx.surveys/0", Epoch: 1, Start: offset, End: offset + 1}}, Now: now, IDs: checks, Records: recs})
		require.NoError(t, err)
		require.Equal(t, store.Applied, res.Outcome)
		offset++
	}
	usage := func(key string) int64 {
		n, err := rdb.MemoryUsage(ctx, key, 0).Result()
		require.NoError(t, err, key)
		return n
	}
	counters := usage("cxpulse:{acme}:s:store=s05")
	view := usage("cxpulse:{acme}:scores:store=s05")
	expiry := usage("cxpulse:{acme}:exp") / scopes
	perScope := counters + view + expiry
	idBytes := usage(fmt.Sprintf("cxpulse:{acme}:ids:%d", now.UnixMilli()/(24*time.Hour).Milliseconds()))
	t.Logf("per scope: counters %d B, view %d B, expiry share %d B, total %d B; per remembered id %d B",
		counters, view, expiry, perScope, idBytes/ids)
	require.LessOrEqual(t, perScope, int64(64<<10))
}
