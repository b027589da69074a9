package demo

import (
	"time"

	"github.com/cxpulse/cxpulse/internal/traffic"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// The history the demo posts at start: a spread of every kind of event
// over three months, and NPS answers that give every store at least
// trendFloor answers in every bucket of the 7d and 30d trends (6 hours and
// a day), so that the dashboard's first chart is drawn whole.
const (
	historyEvents  = 3600
	historyHorizon = 89 * 24 * time.Hour
	// trendFloor is the dashboard's floor of answers for a trend point
	// (MIN_ANSWERS in dashboard.js).
	trendFloor = 10
)

// trendWindows are the trends filled, finest first.
var trendWindows = []string{"7d", "30d"}

// history returns the demo's history at now.
func history(tr *traffic.Generator, now time.Time) []events.Event {
	out := make([]events.Event, 0, historyEvents)
	for range historyEvents {
		out = append(out, tr.Next(now.Add(-time.Duration(tr.Int63n(int64(historyHorizon))))))
	}
	return append(out, trendFill(tr, now)...)
}

// trendFill returns NPS answers that give every store at least trendFloor
// in every bucket of each trend window at now (the current bucket up to
// now), counting those a finer window's buckets already gave.
func trendFill(tr *traffic.Generator, now time.Time) []events.Event {
	var out []events.Event
	for _, name := range trendWindows {
		ws, _ := window.Parse(name) // a constant spec
		w := ws[0]
		have := map[[2]int64]int{} // (store, bucket) → answers
		for i := range out {
			have[[2]int64{int64(storeOf(tr, &out[i])), w.Index(out[i].OccurredAt)}]++
		}
		first, _ := w.Span(now)
		for b := first; b <= w.Index(now); b++ {
			from, to := w.Start(b), w.Start(b+1)
			if now.Before(to) {
				to = now
			}
			if !to.After(from) {
				continue
			}
			for s := range tr.Stores() {
				for n := have[[2]int64{int64(s), b}]; n < trendFloor; n++ {
					at := from.Add(time.Duration(tr.Int63n(int64(to.Sub(from)))))
					out = append(out, tr.NPSAnswer(s, at))
				}
			}
		}
	}
	return out
}

// storeOf is the number of an event's store in tr.
func storeOf(tr *traffic.Generator, ev *events.Event) int {
	for s := range tr.Stores() {
		if tr.StoreID(s) == ev.Dims["store"] {
			return s
		}
	}
	return -1
}
