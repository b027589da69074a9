package plan

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/cxpulse/cxpulse/internal/customers"
	"github.com/cxpulse/cxpulse/internal/traffic"
	"github.com/cxpulse/cxpulse/pkg/period"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// BenchmarkPlan measures the pre-aggregation of a 2000-event tenant slice
// (dedupe decisions, records, customer histories and one delta per scope
// and bucket of every window and calendar period), its customers already
// known from 20,000 earlier events.
func BenchmarkPlan(b *testing.B) {
	ws, err := window.Parse("1h,24h,7d,30d,90d")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	gen := traffic.New(1, "acme")
	slice := func() []*Item {
		var items []*Item
		for len(items) < 2000 {
			ev := gen.Next(now.Add(-time.Duration(gen.Int63n(int64(6 * time.Hour)))))
			scopes := []string{"all"}
			for _, d := range []string{"store", "region", "channel", "agent"} {
				if v, ok := ev.Dims[d]; ok {
					scopes = append(scopes, fmt.Sprintf("%s=%s", d, v))
				}
			}
			items = append(items, &Item{Event: ev, Scopes: scopes})
		}
		return items
	}
	in := &Input{Windows: ws, Now: now, Horizon: customers.NewHorizon(ws[len(ws)-1], 90*window.Day),
		Customers: map[string]*customers.Known{}, Periods: period.UTC}
	for range 10 {
		p, err := Make(in, slice())
		if err != nil {
			b.Fatal(err)
		}
		maps.Copy(in.Customers, p.Known)
	}
	items := slice()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Make(in, items); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/event")
}
