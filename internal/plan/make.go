package plan

import (
	"fmt"
	"time"

	"github.com/cxpulse/cxpulse/internal/customers"
	"github.com/cxpulse/cxpulse/internal/deadletter"
	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// Make decides, for the items of one tenant slice in offset order,
// which are new, which are revisions or repeats and which are dead
// letters, and what the changed customer histories derive.
func Make(in *Input, items []*Item) (*Plan, error) {
	m := &maker{in: in, out: &Plan{Known: map[string]*customers.Known{}}, pl: newPlanner(in), inHistory: in.inHistory(),
		th: &themes{now: in.Now.UnixMilli(), deltas: map[termKey]int64{}}, histories: map[string][]customers.Entry{}}
	heads, next := chains(items)
	m.out.Slice.IDs = make([]dedupe.Check, 0, len(heads))
	m.out.Slice.Records = make([]dedupe.Record, 0, len(heads))
	m.out.Slice.Index = make([]store.IndexEntry, 0, len(heads))
	for _, h := range heads {
		m.decide(items, h, next)
	}
	if err := m.deriveCustomers(); err != nil {
		return nil, err
	}
	m.pl.finish(m.out, m.th, in)
	return m.out, nil
}

// maker is what Make builds while it walks a slice.
type maker struct {
	in        *Input
	out       *Plan
	pl        *planner
	th        *themes
	inHistory func(time.Time) bool
	// histories are the new history entries of each customer, and
	// customerOrder the customers in the order first touched.
	histories     map[string][]customers.Entry
	customerOrder []string
}

// chains links the items of each id in offset order: heads holds each
// id's first item, next the item after one of the same id (-1: none). No
// allocation per id in the common case of ids seen once.
func chains(items []*Item) (heads, next []int) {
	first := make(map[string]int, len(items))
	next = make([]int, len(items))
	last := make([]int, len(items))
	for i, it := range items {
		next[i] = -1
		if h, ok := first[it.Event.ID]; ok {
			next[last[h]] = i
			last[h] = i
			continue
		}
		first[it.Event.ID] = i
		last[i] = i
		heads = append(heads, i)
	}
	return heads, next
}

// decide settles one id: the version that counts, checked against the
// stored one.
func (m *maker) decide(items []*Item, h int, next []int) {
	id := items[h].Event.ID
	base := m.in.Known[id]
	chosen, dupSeen := m.choose(items, h, next, base)
	expect := int64(dedupe.NewEvent)
	if base != nil {
		expect = base.Revision
	}
	m.out.Slice.IDs = append(m.out.Slice.IDs, dedupe.Check{ID: id, Expect: expect})
	switch {
	case chosen != nil:
		m.count(id, base, chosen)
	case base != nil && dupSeen:
		// A repeat keeps the id remembered for the horizon after its last
		// arrival.
		refreshed := *base
		refreshed.Arrival = m.in.Now
		m.out.Slice.Records = append(m.out.Slice.Records, refreshed)
	}
}

// choose walks the items of one id from h: repeats of what counts are
// dropped, conflicts and events out of time dead-lettered, and the last
// higher revision chosen (nil: none). dupSeen reports a repeat.
func (m *maker) choose(items []*Item, h int, next []int, base *dedupe.Record) (chosen *Item, dupSeen bool) {
	var (
		rev           int64
		typ, customer string
		haveCur       bool
	)
	if base != nil {
		rev, typ, customer, haveCur = base.Revision, base.Type, base.CustomerID, true
	}
	for j := h; j >= 0; j = next[j] {
		it := items[j]
		ev := &it.Event
		if haveCur && ev.Revision <= rev {
			m.out.Dups++
			dupSeen = true
			continue
		}
		reason, detail := it.TimeErr, it.Detail
		if haveCur {
			if detail = deadletter.Revision(ev.ID, typ, customer, ev, it.Detail); detail != "" {
				reason = deadletter.ReasonRevisionConflict
			} else if base != nil && stats.ShapesHistory(ev.Type) && m.inHistory(base.OccurredAt) && !m.inHistory(ev.OccurredAt) {
				reason, detail = deadletter.ReasonRevisionConflict, fmt.Sprintf("revision %d of %s moves occurred_at to %s, before the customer-state horizon, out of the customer's history",
					ev.Revision, ev.ID, ev.OccurredAt.Format(time.RFC3339Nano))
			}
		}
		if reason != "" {
			m.out.Slice.Letters = append(m.out.Slice.Letters, deadletter.Letter(it.Msg, reason, detail))
			continue
		}
		if haveCur {
			m.out.Revisions++
		}
		rev, typ, customer, haveCur = ev.Revision, string(ev.Type), ev.CustomerID, true
		chosen = it
	}
	return chosen, dupSeen
}

// count retracts what base counted and counts chosen: windows, calendar
// periods, themes, samples, the remembered record, the customer's index
// and history.
func (m *maker) count(id string, base *dedupe.Record, chosen *Item) {
	in, out := m.in, m.out
	// A comment older than the tenant's comment_retention leaves no text
	// behind: no sample, no theme words.
	terms := chosen.Terms
	if in.CommentRetention > 0 && chosen.Event.OccurredAt.Before(in.Now.Add(-in.CommentRetention)) {
		terms = nil
	}
	if base != nil {
		m.pl.add(base.Scopes, base.OccurredAt, &base.Counters, -1)
		m.th.add(base.Scopes, base.OccurredAt, base.Terms, base.Detractor(), -1)
	} else {
		out.Applied++
	}
	c := stats.Contribution(&chosen.Event)
	detractor := c[stats.NPSDetractors] > 0
	sampled := terms
	if !detractor {
		sampled = nil // alerts show detractors' comments only
	}
	out.Slice.Samples = appendSamples(out.Slice.Samples, base, chosen, sampled)
	m.pl.add(chosen.Scopes, chosen.Event.OccurredAt, &c, 1)
	m.th.add(chosen.Scopes, chosen.Event.OccurredAt, terms, detractor, 1)
	rec := dedupe.Record{
		ID: id, Revision: chosen.Event.Revision, Arrival: in.Now, OccurredAt: chosen.Event.OccurredAt,
		Type: string(chosen.Event.Type), Scopes: chosen.Scopes, Counters: c, CustomerID: chosen.Event.CustomerID,
		Terms: terms,
	}
	out.Slice.Records = append(out.Slice.Records, rec)
	if rec.CustomerID != "" {
		m.index(base, rec)
	}
	m.history(chosen)
}

// index adds an event to its customer's contribution index. Under a
// comment_retention the index keeps no theme words (it outlives the
// retention): they are kept apart with the day's theme buckets, for an
// erasure, and the earlier version's go with it.
func (m *maker) index(base *dedupe.Record, rec dedupe.Record) {
	in, sl := m.in, &m.out.Slice
	ix := rec
	if in.CommentRetention > 0 {
		ix.Terms = nil
		if base != nil && len(base.Terms) > 0 && base.CustomerID != "" {
			sl.CommentWords = append(sl.CommentWords, store.CommentWords{Customer: base.CustomerID, ID: rec.ID, At: base.OccurredAt})
		}
		if len(rec.Terms) > 0 {
			sl.CommentWords = append(sl.CommentWords, store.CommentWords{Customer: rec.CustomerID, ID: rec.ID,
				Revision: rec.Revision, At: rec.OccurredAt, Terms: rec.Terms, Until: wordsUntil(rec.OccurredAt, in.CommentRetention)})
		}
	}
	sl.Index = append(sl.Index, store.IndexEntry{Customer: rec.CustomerID, Record: ix, Until: indexUntil(in.Windows, rec.OccurredAt)})
}

// history notes what an event adds to its customer's history: a purchase
// or cancellation within the customer-state horizon; a purchase older than
// that, or a customer_since, as a first-only entry (it may be the
// customer's first purchase, never a purchaser or an activity); a referral
// code.
func (m *maker) history(chosen *Item) {
	ev := &chosen.Event
	if p := ev.Purchase; p != nil && p.CustomerSince != nil {
		// When the customer first bought, in the scopes of this purchase:
		// new then, if no purchase seen is earlier.
		m.note(ev.CustomerID, customers.Entry{ID: ev.ID + customers.SinceSuffix, At: p.CustomerSince.UnixMilli(), Scopes: chosen.Scopes, FirstOnly: true})
	}
	switch {
	case stats.ShapesHistory(ev.Type) && m.inHistory(ev.OccurredAt):
		m.note(ev.CustomerID, historyEntry(chosen))
	case ev.Type == events.TypePurchaseCompleted:
		e := historyEntry(chosen)
		e.FirstOnly = true
		m.note(ev.CustomerID, e)
	case ev.Referral != nil:
		if m.out.Slice.Codes == nil {
			m.out.Slice.Codes = map[string]string{}
		}
		m.out.Slice.Codes[ev.Referral.Code] = ev.Referral.ReferrerID
	}
}

// note adds an entry to a customer's new history.
func (m *maker) note(customer string, e customers.Entry) {
	if _, ok := m.histories[customer]; !ok {
		m.customerOrder = append(m.customerOrder, customer)
	}
	m.histories[customer] = append(m.histories[customer], e)
}

// deriveCustomers plans every touched customer (and those due to be
// looked at again) and counts what their histories derive.
func (m *maker) deriveCustomers() error {
	for _, id := range m.in.Due {
		if _, ok := m.histories[id]; !ok {
			m.customerOrder = append(m.customerOrder, id)
			m.histories[id] = nil
		}
	}
	for _, id := range m.customerOrder {
		ch, err := customers.Plan(id, m.in.Customers[id], m.histories[id], m.in.Now, m.in.Horizon, func(c customers.Count, n float64) {
			m.pl.addCount(c.Scope, time.UnixMilli(c.At), c.Counter, n)
		})
		if err != nil {
			return err
		}
		m.out.Slice.Customers = append(m.out.Slice.Customers, customerUpdate(id, &ch))
		m.out.Known[id] = ch.Next
	}
	return nil
}
