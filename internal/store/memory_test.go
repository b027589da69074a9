package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/periodbuckets"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// TestMemoryPerScope fills every bucket of every default window of 20
// scopes with every counter set (the worst case) and remembers 10,000 ids,
// then measures with MEMORY USAGE: a scope must stay within 64 KiB
// (docs/performance.md). The figures are logged for docs/redis.md.
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

// TestMemoryOfPeriods fills one scope's calendar-period buckets as fully
// as they can be (every local day and month kept, from the start of the
// previous year, and every hour of the 13 months whose hours are kept,
// with every counter set) and logs what they take, for docs/redis.md.
func TestMemoryOfPeriods(t *testing.T) {
	s, rdb := newStoreWith(t, "1h,24h,7d,30d,90d")
	ctx := t.Context()
	now := time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC)
	sys := period.UTC
	var full stats.Counters
	for i := range full {
		if stats.InPeriods(stats.Counter(i)) {
			full[i] = float64(1000 + i*37)
		}
	}
	full[stats.FirstResponseSq], full[stats.HandleSq] = 123456.789, 98765.4321
	today := sys.Day(now)
	var deltas []store.PeriodDelta
	for d := sys.RetainedFrom(today); d <= today; d++ {
		deltas = append(deltas, store.PeriodDelta{Scope: "store=s01", Bucket: periodbuckets.Bucket{Unit: periodbuckets.Day, Index: d}, Counters: full})
		if sys.Month(d) > sys.Month(today)-periodbuckets.HoursKeptMonths {
			for h := range int64(24) {
				deltas = append(deltas, store.PeriodDelta{Scope: "store=s01", Bucket: periodbuckets.Bucket{Unit: periodbuckets.Hour, Index: d*24 + h}, Counters: full})
			}
		}
	}
	for m := sys.Month(sys.RetainedFrom(today)); m <= sys.Month(today); m++ {
		deltas = append(deltas, store.PeriodDelta{Scope: "store=s01", Bucket: periodbuckets.Bucket{Unit: periodbuckets.Month, Index: m}, Counters: full})
	}
	for i := 0; i < len(deltas); i += 2000 {
		res, err := s.Apply(ctx, &store.Slice{Tenant: "acme", Ranges: []store.Range{{Partition: "cx.surveys/0", Epoch: 1, Start: int64(i), End: int64(i + 1)}},
			Now: now, Periods: sys, PeriodDeltas: deltas[i:min(i+2000, len(deltas))]})
		require.NoError(t, err)
		require.Equal(t, store.Applied, res.Outcome)
	}
	keys, err := rdb.Keys(ctx, "cxpulse:{acme}:p*:store=s01:*").Result()
	require.NoError(t, err)
	var years, hours int64
	for _, k := range keys {
		n, err := rdb.MemoryUsage(ctx, k, 0).Result()
		require.NoError(t, err)
		if strings.Contains(k, ":ph:") {
			hours += n
		} else {
			years += n
		}
	}
	view, err := rdb.MemoryUsage(ctx, "cxpulse:{acme}:scores:store=s01", 0).Result()
	require.NoError(t, err)
	t.Logf("one scope's periods at worst: days and months %d B (%d keys), hours %d B, view with the to-date fields %d B",
		years, len(keys), hours, view)
	require.Less(t, years+hours, int64(4<<20), "bounded")
}

// TestMemoryOfContributionIndex measures the contribution index that
// erasure retracts from: 2,000 customers with 5 events each (a purchase's
// counters in 4 scopes), with MEMORY USAGE per customer key. The figure per
// event is logged for docs/redis.md and docs/scaling.md.
func TestMemoryOfContributionIndex(t *testing.T) {
	s, rdb := newStoreWith(t, "1h,24h,7d,30d,90d")
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	const customers, each = 2000, 5
	var c stats.Counters
	c[stats.Purchases], c[stats.GrossAmount] = 1, 425000
	// Each customer's events arrive in slices of their own, the latest
	// first, as a history grows: every push but the first appends.
	offset := int64(0)
	for e := range each {
		for batch := 0; batch < customers; batch += 200 {
			var index []store.IndexEntry
			for k := batch; k < batch+200; k++ {
				at := now.Add(-time.Duration(e*7) * 24 * time.Hour)
				index = append(index, store.IndexEntry{Customer: fmt.Sprintf("customer-%06d", k), Until: at.Add(2 * 366 * 24 * time.Hour),
					Record: dedupe.Record{ID: fmt.Sprintf("order-%06d-%d", k, e), Revision: 0, Arrival: now, OccurredAt: at,
						Type: "purchase.completed", Scopes: []string{"all", "store=s01", "region=eu", "channel=web"}, Counters: c}})
			}
			res, err := s.Apply(ctx, &store.Slice{Tenant: "acme", Ranges: []store.Range{{Partition: "cx.purchases/0", Epoch: 1, Start: offset, End: offset + 1}},
				Now: now, Index: index})
			require.NoError(t, err)
			require.Equal(t, store.Applied, res.Outcome)
			offset++
		}
	}
	var total int64
	for k := range customers {
		n, err := rdb.MemoryUsage(ctx, fmt.Sprintf("cxpulse:{acme}:ci:customer-%06d", k), 0).Result()
		require.NoError(t, err)
		total += n
	}
	ttl, err := rdb.PTTL(ctx, "cxpulse:{acme}:ci:customer-000000").Result()
	require.NoError(t, err)
	require.InDelta(t, float64(2*366*24*time.Hour), float64(ttl), float64(time.Minute), "the key lives as long as its latest event needs")
	t.Logf("contribution index: %d B per customer of %d events, %d B per event", total/customers, each, total/(customers*each))
	require.Less(t, total/(customers*each), int64(192), "bytes per indexed event")
}
