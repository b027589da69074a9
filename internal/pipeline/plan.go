package pipeline

import (
	"strconv"
	"time"

	"github.com/cxpulse/cxpulse/internal/customers"
	"github.com/cxpulse/cxpulse/internal/deadletter"
	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store"
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

type deltaKey struct {
	scope  int32 // index into planner.scopes
	window int32
	bucket int64
}

type planner struct {
	windows []window.Window
	// first and last are each window's span at now.
	first, last []int64
	// deltas indexes the sums, kept in chunks in order of first use (one
	// allocation per chunk, not per key, and none moved when more come).
	deltas map[deltaKey]int32
	order  []deltaKey
	chunks [][]stats.Counters
	// recent remembers, per scope and window, the bucket last summed and
	// its index: most events of a slice fall in the same bucket of the
	// longer windows, which saves the map lookup.
	recent [][]recentSum
	index  map[string]int32 // scope name → index
	scopes []string
}

type recentSum struct {
	bucket int64
	sum    int32 // index + 1; 0: none
}

const chunkSums = 256

func (p *planner) scope(name string) int32 {
	i, ok := p.index[name]
	if !ok {
		i = int32(len(p.scopes))
		p.index[name] = i
		p.scopes = append(p.scopes, name)
		p.recent = append(p.recent, make([]recentSum, len(p.windows)))
	}
	return i
}

// at returns the counters summed at index i.
func (p *planner) at(i int32) *stats.Counters {
	return &p.chunks[i/chunkSums][i%chunkSums]
}

// sum returns the counters of key k, adding them when missing.
func (p *planner) sum(k deltaKey) *stats.Counters {
	r := &p.recent[k.scope][k.window]
	if r.sum != 0 && r.bucket == k.bucket {
		return p.at(r.sum - 1)
	}
	i, ok := p.deltas[k]
	if !ok {
		i = int32(len(p.order))
		p.deltas[k] = i
		p.order = append(p.order, k)
		if int(i)%chunkSums == 0 {
			p.chunks = append(p.chunks, make([]stats.Counters, chunkSums))
		}
	}
	*r = recentSum{bucket: k.bucket, sum: i + 1}
	return p.at(i)
}

func (p *planner) add(scopes []string, at time.Time, c *stats.Counters, sign float64) {
	var buf [16]int32
	idx := buf[:0]
	for _, sc := range scopes {
		idx = append(idx, p.scope(sc))
	}
	// An event moves a few of the counters: visit only those.
	var nzBuf [stats.NumCounters]int8
	nz := nzBuf[:0]
	for i, v := range c {
		if v != 0 {
			nz = append(nz, int8(i))
		}
	}
	for wi, w := range p.windows {
		b := w.Index(at)
		if b < p.first[wi] || b > p.last[wi] {
			continue
		}
		for _, si := range idx {
			d := p.sum(deltaKey{si, int32(wi), b})
			for _, i := range nz {
				d[i] += sign * c[i]
			}
		}
	}
}

// addCount adds n to one counter of the buckets of at in one scope.
func (p *planner) addCount(scope string, at time.Time, k stats.Counter, n float64) {
	si := p.scope(scope)
	for wi, w := range p.windows {
		b := w.Index(at)
		if b < p.first[wi] || b > p.last[wi] {
			continue
		}
		p.sum(deltaKey{si, int32(wi), b})[k] += n
	}
}

type termKey struct {
	scope, bucket, term string
}

// themes collects the term changes of a slice: detractor comment terms are
// counted per hour (for the detection horizon) and per day (for the
// baseline), in buckets the sweeper has not yet deleted.
type themes struct {
	now    int64
	deltas map[termKey]int64
}

func (t *themes) add(scopes []string, at time.Time, terms []string, sign int64) {
	if len(terms) == 0 {
		return
	}
	ms := at.UnixMilli()
	hour, day := time.Hour.Milliseconds(), (24 * time.Hour).Milliseconds()
	for _, b := range []struct {
		name    string
		expires int64
	}{
		{"h" + strconv.FormatInt(ms/hour, 10), (ms/hour+1)*hour + store.ThemeHourKept.Milliseconds()},
		{"d" + strconv.FormatInt(ms/day, 10), (ms/day+1)*day + store.ThemeDayKept.Milliseconds()},
	} {
		// A margin of an hour keeps clear of buckets being swept.
		if b.expires <= t.now+time.Hour.Milliseconds() {
			continue
		}
		for _, sc := range scopes {
			for _, term := range terms {
				t.deltas[termKey{sc, b.name, term}] += sign
			}
		}
	}
}

func (t *themes) slice() []store.TermDelta {
	var out []store.TermDelta
	for k, n := range t.deltas {
		if n != 0 {
			out = append(out, store.TermDelta{Scope: k.scope, Bucket: k.bucket, Term: k.term, N: n})
		}
	}
	return out
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
	pl := &planner{windows: windows, deltas: make(map[deltaKey]int32, 64), index: map[string]int32{}}
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
			case stats.ShapesHistory(ev.Type):
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
			pl.addCount(c.Scope, time.UnixMilli(c.At), c.Counter, n)
		})
		if err != nil {
			return nil, err
		}
		out.slice.Customers = append(out.slice.Customers, customerUpdate(id, &ch))
		out.known[id] = ch.Next
	}
	out.slice.Terms = th.slice()
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
