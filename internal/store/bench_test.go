package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/store"
)

// BenchmarkApplySlice measures one apply script call for a slice of 500
// new NPS events spread over 30 scopes and the last 10 minutes, with the
// default windows: the per-call cost that bounds a tenant's throughput.
func BenchmarkApplySlice(b *testing.B) {
	s, rdb := newStoreWith(b, "1h,24h,7d,30d,90d")
	ws := s.Windows()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	const events, scopes = 500, 30
	var offset int64
	require.NoError(b, rdb.ConfigResetStat(b.Context()).Err())
	b.ReportAllocs()
	for b.Loop() {
		sl := &store.Slice{Tenant: "acme", Ranges: []store.Range{{Partition: "cx.surveys/0", Epoch: 1, Start: offset, End: offset + events}}, Now: now}
		deltas := map[string]int{}
		for i := range events {
			id := fmt.Sprintf("e-%d", offset+int64(i))
			at := now.Add(-time.Duration(i%600) * time.Second)
			c := nps(i % 11)
			sc := []string{"all", fmt.Sprintf("store=s%02d", i%(scopes-1))}
			sl.IDs = append(sl.IDs, dedupe.Check{ID: id, Expect: dedupe.NewEvent})
			sl.Records = append(sl.Records, dedupe.Record{ID: id, Arrival: now, OccurredAt: at, Type: "survey.response", Scopes: sc, Counters: c})
			for wi, w := range ws {
				for _, scope := range sc {
					k := fmt.Sprint(scope, wi, w.Index(at))
					j, ok := deltas[k]
					if !ok {
						j = len(sl.Deltas)
						deltas[k] = j
						sl.Deltas = append(sl.Deltas, store.Delta{Scope: scope, Window: wi, Bucket: w.Index(at)})
					}
					sl.Deltas[j].Counters.Add(&c, 1)
				}
			}
		}
		res, err := s.Apply(b.Context(), sl)
		if err != nil || res.Outcome != store.Applied {
			b.Fatal(err, res.Outcome)
		}
		offset += events
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
	b.ReportMetric(scriptMicros(b, rdb)/events, "redis-µs/event")
}

// scriptMicros returns the mean Redis CPU time of one script call since the
// last CONFIG RESETSTAT.
func scriptMicros(b *testing.B, rdb *redis.Client) float64 {
	info, err := rdb.Info(b.Context(), "commandstats").Result()
	require.NoError(b, err)
	var calls, usec float64
	for line := range strings.Lines(info) {
		if strings.HasPrefix(line, "cmdstat_evalsha:") || strings.HasPrefix(line, "cmdstat_eval:") {
			var c, u float64
			_, _ = fmt.Sscanf(line[strings.Index(line, ":")+1:], "calls=%g,usec=%g", &c, &u)
			calls += c
			usec += u
		}
	}
	return usec / calls
}
