package aggregate

import (
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// Dead-letter reason codes (DESIGN §2).
const (
	ReasonMalformed        = "malformed_json"
	ReasonInvalid          = "invalid_event"
	ReasonTooLate          = "too_late"
	ReasonInFuture         = "in_future"
	ReasonRevisionConflict = "revision_conflict"
	ReasonCurrency         = "currency_mismatch"
	ReasonUnknownTenant    = "unknown_tenant"
)

// item is one valid, counted event of a tenant slice.
type item struct {
	msg       *kafka.Message // in its batch's messages
	partition string         // topic/partition
	ev        events.Event
	scopes    []string
	terms     []string // theme terms of a detractor comment
	timeErr   string   // ReasonTooLate or ReasonInFuture when its time is out of bounds
	detail    string
}

// plan is what one tenant slice does, given what is known of its ids.
type plan struct {
	slice     store.Slice
	applied   int // new events counted
	revisions int // revisions that replaced an earlier version
	dups      int // repeats dropped
	// known holds, per customer the slice changes, what the slice leaves
	// stored: for the cache once the slice is applied.
	known map[string]*knownCustomer
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
	chunks [][]store.Counters
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
func (p *planner) at(i int32) *store.Counters {
	return &p.chunks[i/chunkSums][i%chunkSums]
}

// sum returns the counters of key k, adding them when missing.
func (p *planner) sum(k deltaKey) *store.Counters {
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
			p.chunks = append(p.chunks, make([]store.Counters, chunkSums))
		}
	}
	*r = recentSum{bucket: k.bucket, sum: i + 1}
	return p.at(i)
}

func (p *planner) add(scopes []string, at time.Time, c *store.Counters, sign float64) {
	var buf [16]int32
	idx := buf[:0]
	for _, sc := range scopes {
		idx = append(idx, p.scope(sc))
	}
	// An event moves a few of the counters: visit only those.
	var nzBuf [store.NumCounters]int8
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
func (p *planner) addCount(scope string, at time.Time, k store.Counter, n float64) {
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
	known map[string]*store.Record
	// customers holds the stored records of the customers whose history
	// the slice's purchases and cancellations change (absent: none stored;
	// the store checks the versions).
	customers map[string]*knownCustomer
	horizon   customerHorizon
	// due are customers to look at again with no new entry (inactivity
	// losses and forgetting, driven by the sweeper).
	due []string
}

// historyCustomers returns the customers whose history items change.
func historyCustomers(items []*item) []string {
	var out []string
	seen := map[string]bool{}
	for _, it := range items {
		if shapesHistory(it.ev.Type) && !seen[it.ev.CustomerID] {
			seen[it.ev.CustomerID] = true
			out = append(out, it.ev.CustomerID)
		}
	}
	return out
}

// makePlan decides, for the items of one tenant slice in offset order,
// which are new, which are revisions or repeats and which are dead
// letters, and what the changed customer histories derive.
func makePlan(in *planInput, items []*item) (*plan, error) {
	windows, known, now := in.windows, in.known, in.now
	out := &plan{known: map[string]*knownCustomer{}}
	pl := &planner{windows: windows, deltas: make(map[deltaKey]int32, 64), index: map[string]int32{}}
	for _, w := range windows {
		f, l := w.Span(now)
		pl.first, pl.last = append(pl.first, f), append(pl.last, l)
	}
	histories := map[string][]entry{}
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
	out.slice.IDs = make([]store.IDCheck, 0, len(heads))
	out.slice.Records = make([]store.Record, 0, len(heads))
	letter := func(it *item, reason, detail string) {
		out.slice.Letters = append(out.slice.Letters, store.Letter{Key: it.msg.Key, Value: it.msg.Value,
			Reason: reason, Detail: detail, Source: source(it.msg)})
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
			switch {
			case haveCur && ev.Revision <= rev:
				out.dups++
				dupSeen = true
			case haveCur && string(ev.Type) != typ:
				letter(it, ReasonRevisionConflict, fmt.Sprintf("revision %d of %s changes type from %s to %s", ev.Revision, id, typ, ev.Type))
			case haveCur && ev.CustomerID != customer:
				letter(it, ReasonRevisionConflict, fmt.Sprintf("revision %d of %s changes customer_id from %q to %q", ev.Revision, id, customer, ev.CustomerID))
			case it.timeErr != "" && haveCur:
				letter(it, ReasonRevisionConflict, fmt.Sprintf("revision %d of %s: %s", ev.Revision, id, it.detail))
			case it.timeErr != "":
				letter(it, it.timeErr, it.detail)
			default:
				if haveCur {
					out.revisions++
				}
				rev, typ, customer, haveCur = ev.Revision, string(ev.Type), ev.CustomerID, true
				chosen = it
			}
		}
		expect := int64(store.NewEvent)
		if base != nil {
			expect = base.Revision
		}
		out.slice.IDs = append(out.slice.IDs, store.IDCheck{ID: id, Expect: expect})
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
			c := contribution(&chosen.ev)
			pl.add(chosen.scopes, chosen.ev.OccurredAt, &c, 1)
			th.add(chosen.scopes, chosen.ev.OccurredAt, chosen.terms, 1)
			out.slice.Records = append(out.slice.Records, store.Record{
				ID: id, Revision: chosen.ev.Revision, Arrival: now, OccurredAt: chosen.ev.OccurredAt,
				Type: string(chosen.ev.Type), Scopes: chosen.scopes, Counters: c, CustomerID: chosen.ev.CustomerID,
				Terms: chosen.terms,
			})
			switch ev := &chosen.ev; {
			case shapesHistory(ev.Type):
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
		if err := planCustomer(pl, out, id, in.customers[id], histories[id], now, in.horizon); err != nil {
			return nil, err
		}
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

// source names a message for the cxpulse-source header: topic/partition/offset.
func source(m *kafka.Message) string {
	return fmt.Sprintf("%s/%d/%d", m.Topic, m.Partition, m.Offset)
}
