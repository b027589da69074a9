package plan

import (
	"time"

	"github.com/cxpulse/cxpulse/internal/customers"
	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/store"
)

// Erase plans the erasure of one customer: every event of their
// contribution index that occurred up to upTo is retracted from the
// windows, calendar periods and themes still holding it, and their
// history up to upTo is removed, with every count it derived (first
// purchase, referral conversion, activity spells, losses). Events after
// upTo (sent after the erasure) stay. in.Customers holds the customer's
// stored record.
func Erase(in *Input, customer string, index []*dedupe.Record, upTo time.Time) (*Plan, error) {
	out := &Plan{Known: map[string]*customers.Known{}}
	pl := newPlanner(in)
	th := &themes{now: in.Now.UnixMilli(), deltas: map[termKey]int64{}}
	for _, r := range index {
		if r.OccurredAt.After(upTo) {
			continue
		}
		pl.add(r.Scopes, r.OccurredAt, &r.Counters, -1)
		th.add(r.Scopes, r.OccurredAt, r.Terms, r.Detractor(), -1)
		out.Applied++
	}
	ch, err := customers.Erase(customer, in.Customers[customer], upTo.UnixMilli(), in.Now, in.Horizon, func(c customers.Count, n float64) {
		pl.addCount(c.Scope, time.UnixMilli(c.At), c.Counter, n)
	})
	if err != nil {
		return nil, err
	}
	out.Slice.Customers = []store.CustomerUpdate{customerUpdate(customer, &ch)}
	out.Known[customer] = ch.Next
	pl.finish(out, th, in)
	return out, nil
}
