package pipeline

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/cxpulse/cxpulse/internal/customers"
	"github.com/cxpulse/cxpulse/internal/traffic"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// BenchmarkPlan measures the pre-aggregation of a 2000-event tenant slice
// (dedupe decisions, records, customer histories and one delta per scope,
// window and bucket), its customers already known from 20,000 earlier
// events.
func BenchmarkPlan(b *testing.B) {
	ws, err := window.Parse("1h,24h,7d,30d,90d")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	gen := traffic.New(1, "acme")
	slice := func() []*item {
		var items []*item
		for len(items) < 2000 {
			ev := gen.Next(now.Add(-time.Duration(gen.Int63n(int64(6 * time.Hour)))))
			scopes := []string{"all"}
			for _, d := range []string{"store", "region", "channel", "agent"} {
				if v, ok := ev.Dims[d]; ok {
					scopes = append(scopes, fmt.Sprintf("%s=%s", d, v))
				}
			}
			items = append(items, &item{ev: ev, scopes: scopes})
		}
		return items
	}
	in := &planInput{windows: ws, now: now, horizon: customers.NewHorizon(ws[len(ws)-1], 90*window.Day),
		customers: map[string]*customers.Known{}}
	for range 10 {
		p, err := makePlan(in, slice())
		if err != nil {
			b.Fatal(err)
		}
		maps.Copy(in.customers, p.known)
	}
	items := slice()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := makePlan(in, items); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/event")
}
