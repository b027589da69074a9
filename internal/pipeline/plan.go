package pipeline

import (
	"fmt"
	"time"

	"github.com/cxpulse/cxpulse/internal/customers"
	"github.com/cxpulse/cxpulse/internal/deadletter"
	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/periodbuckets"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/pkg/period"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// plan is what one tenant slice does, given what is known of its ids.
type plan struct {
	slice     store.Slice
	applied   int // new events counted
	revisions int // revisions that replaced an earlier version
	dups      int // repeats dropped
	// known holds, per customer the slice changes, what the slice leaves
	// stored: for the cache once the slice is applied.
	known map[string]*customers.Known
}

// planInput is what a tenant slice is planned from besides its items.
type planInput struct {
	windows []window.Window
	now     time.Time
	// known holds the stored record of every id the store reported (an id
	// absent from known is assumed new; the store checks).
	known map[string]*dedupe.Record
	// customers holds the stored records of the customers whose history
	// the slice's purchases and cancellations change (absent: none stored;
	// the store checks the versions).
	customers map[string]*customers.Known
	horizon   customers.Horizon
	// periods is the tenant's way of cutting time into calendar periods.
	periods period.System
	// historyFrom reports whether an instant is within the customer-state
	// horizon (deadletter.Rules.InHistory): older purchases and
	// cancellations count in calendar periods only.
	inHistory func(time.Time) bool
	// due are customers to look at again with no new entry (inactivity
	// losses and forgetting, driven by the sweeper).
	due []string
}

// makePlan decides, for the items of one tenant slice in offset order,
// which are new, which are revisions or repeats and which are dead
// letters, and what the changed customer histories derive.
func makePlan(in *planInput, items []*item) (*plan, error) {
	windows, known, now := in.windows, in.known, in.now
	out := &plan{known: map[string]*customers.Known{}}
	pl := &planner{windows: windows, deltas: make(map[deltaKey]int32, 64), index: map[string]int32{},
		periods: make(map[periodKey]int32, 64)}
	if in.periods.Loc != nil {
		pl.kept = periodbuckets.KeptAt(in.periods, now)
	}
	inHistory := in.inHistory
	if inHistory == nil {
		inHistory = func(time.Time) bool { return true }
	}
	for _, w := range windows {
		f, l := w.Span(now)
		pl.first, pl.last = append(pl.first, f), append(pl.last, l)
	}
	histories := map[string][]customers.Entry{}
	var customerOrder []string
	th := &themes{now: now.UnixMilli(), deltas: map[termKey]int64{}}
	// The items of each id, in offset order, as linked lists over items:
	// no allocation per id in the common case of ids seen once.
	first := make(map[string]int, len(items))
	next := make([]int, len(items))
	last := make([]int, len(items))
	var heads []int
	for i, it := range items {
		next[i] = -1
		if h, ok := first[it.ev.ID]; ok {
			next[last[h]] = i
			last[h] = i
			continue
		}
		first[it.ev.ID] = i
		last[i] = i
		heads = append(heads, i)
	}
	out.slice.IDs = make([]dedupe.Check, 0, len(heads))
	out.slice.Records = make([]dedupe.Record, 0, len(heads))
	letter := func(it *item, reason, detail string) {
		out.slice.Letters = append(out.slice.Letters, deadletter.Letter(it.msg, reason, detail))
	}
	for _, h := range heads {
		id := items[h].ev.ID
		base := known[id]
		var (
			rev              int64
			typ, customer    string
			haveCur, dupSeen bool
			chosen           *item
		)
		if base != nil {
			rev, typ, customer, haveCur = base.Revision, base.Type, base.CustomerID, true
		}
		for j := h; j >= 0; j = next[j] {
			it := items[j]
			ev := &it.ev
			if haveCur && ev.Revision <= rev {
				out.dups++
				dupSeen = true
				continue
			}
			reason, detail := it.timeErr, it.detail
			if haveCur {
				if detail = deadletter.Revision(id, typ, customer, ev, it.detail); detail != "" {
					reason = deadletter.ReasonRevisionConflict
				} else if base != nil && stats.ShapesHistory(ev.Type) && inHistory(base.OccurredAt) && !inHistory(ev.OccurredAt) {
					reason, detail = deadletter.ReasonRevisionConflict, fmt.Sprintf("revision %d of %s moves occurred_at to %s, before the customer-state horizon, out of the customer's history",
						ev.Revision, id, ev.OccurredAt.Format(time.RFC3339Nano))
				}
			}
			if reason != "" {
				letter(it, reason, detail)
				continue
			}
			if haveCur {
				out.revisions++
			}
			rev, typ, customer, haveCur = ev.Revision, string(ev.Type), ev.CustomerID, true
			chosen = it
		}
		expect := int64(dedupe.NewEvent)
		if base != nil {
			expect = base.Revision
		}
		out.slice.IDs = append(out.slice.IDs, dedupe.Check{ID: id, Expect: expect})
		switch {
		case chosen != nil:
			if base != nil {
				pl.add(base.Scopes, base.OccurredAt, &base.Counters, -1)
				th.add(base.Scopes, base.OccurredAt, base.Terms, -1)
			} else {
				out.applied++
				if len(chosen.terms) > 0 {
					for _, sc := range chosen.scopes {
						out.slice.Samples = append(out.slice.Samples, store.Sample{Scope: sc, ID: id,
							At: chosen.ev.OccurredAt.UnixMilli(), Score: chosen.ev.Survey.Score, Text: chosen.ev.Survey.Comment})
					}
				}
			}
			c := stats.Contribution(&chosen.ev)
			pl.add(chosen.scopes, chosen.ev.OccurredAt, &c, 1)
			th.add(chosen.scopes, chosen.ev.OccurredAt, chosen.terms, 1)
			out.slice.Records = append(out.slice.Records, dedupe.Record{
				ID: id, Revision: chosen.ev.Revision, Arrival: now, OccurredAt: chosen.ev.OccurredAt,
				Type: string(chosen.ev.Type), Scopes: chosen.scopes, Counters: c, CustomerID: chosen.ev.CustomerID,
				Terms: chosen.terms,
			})
			switch ev := &chosen.ev; {
			case stats.ShapesHistory(ev.Type) && inHistory(ev.OccurredAt):
				if _, ok := histories[ev.CustomerID]; !ok {
					customerOrder = append(customerOrder, ev.CustomerID)
				}
				histories[ev.CustomerID] = append(histories[ev.CustomerID], historyEntry(chosen))
			case ev.Referral != nil:
				if out.slice.Codes == nil {
					out.slice.Codes = map[string]string{}
				}
				out.slice.Codes[ev.Referral.Code] = ev.Referral.ReferrerID
			}
		case base != nil && dupSeen:
			// A repeat keeps the id remembered for the horizon after its
			// last arrival.
			refreshed := *base
			refreshed.Arrival = now
			out.slice.Records = append(out.slice.Records, refreshed)
		}
	}
	for _, id := range in.due {
		if _, ok := histories[id]; !ok {
			customerOrder = append(customerOrder, id)
			histories[id] = nil
		}
	}
	for _, id := range customerOrder {
		ch, err := customers.Plan(id, in.customers[id], histories[id], now, in.horizon, func(c customers.Count, n float64) {
			at := time.UnixMilli(c.At)
			pl.addCount(c.Scope, at, c.Counter, n, inHistory(at))
		})
		if err != nil {
			return nil, err
		}
		out.slice.Customers = append(out.slice.Customers, customerUpdate(id, &ch))
		out.known[id] = ch.Next
	}
	out.slice.Terms = th.slice()
	out.slice.Periods = in.periods
	out.slice.PeriodDeltas = make([]store.PeriodDelta, 0, len(pl.porder))
	for i, k := range pl.porder {
		if d := &pl.psums[i]; !d.Zero() {
			out.slice.PeriodDeltas = append(out.slice.PeriodDeltas, store.PeriodDelta{Scope: pl.scopes[k.scope], Unit: k.bucket.Unit, Index: k.bucket.Index, Counters: *d})
		}
	}
	out.slice.Deltas = make([]store.Delta, 0, len(pl.order))
	for i, k := range pl.order {
		if d := pl.at(int32(i)); !d.Zero() {
			out.slice.Deltas = append(out.slice.Deltas, store.Delta{Scope: pl.scopes[k.scope], Window: int(k.window), Bucket: k.bucket, Counters: *d})
		}
	}
	return out, nil
}

// customerUpdate is the store's form of a customer change.
func customerUpdate(id string, ch *customers.Change) store.CustomerUpdate {
	u := store.CustomerUpdate{ID: id, Expect: dedupe.NewEvent, Record: ch.Record, Version: ch.Version, Due: ch.Due, Active: ch.Active}
	if ch.Stored {
		u.Expect = ch.Expect
	}
	if ch.DueUnchanged {
		u.Due = store.DueUnchanged
	}
	if ch.ConversionMoved {
		if ch.ConversionDel != "" {
			u.ConversionDel = store.ConversionMember(id, ch.ConversionDel)
		}
		if ch.ConversionAdd != "" {
			u.ConversionAdd = store.ConversionMember(id, ch.ConversionAdd)
		}
		u.ConversionAt = ch.ConversionAt
	}
	return u
}
