package aggregate

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// customer is what is kept of one customer of a tenant (DESIGN §3): their
// completed purchases and cancellations within the customer-state horizon,
// in event-time order, and what older, forgotten entries left behind. Every
// commerce figure that depends on more than one event (first purchase,
// activity spells, distinct purchasers, referral conversion) is derived
// from it, so a late or revised event moves those figures to where they
// belong: the plan retracts what the old history derived and adds what the
// new one derives.
type customer struct {
	Events []entry `json:"e,omitempty"`
	// First is the customer's earliest purchase once its entry has been
	// forgotten, so that a later purchase is not counted as a first one.
	First *entry `json:"f,omitempty"`
	// Carry holds, per scope, the activity spell that was under way when
	// the forgotten entries ended.
	Carry map[string]spell `json:"c,omitempty"`
	// AsOf is the instant (unix ms) the stored figures were derived at.
	AsOf int64 `json:"t"`
	// Names is the record's table of scope names: entries refer to it by
	// position, so each name is stored once per customer.
	Names []string `json:"n,omitempty"`
}

// entry is one purchase or cancellation of a customer.
type entry struct {
	ID     string   `json:"i"`
	Cancel bool     `json:"x,omitempty"`
	At     int64    `json:"a"` // occurred_at, unix ms
	Scopes []string `json:"-"`
	Refs   []int    `json:"s,omitempty"` // Scopes as positions in customer.Names, when stored
	Code   string   `json:"r,omitempty"` // referral code of a purchase
}

// spell is an activity spell in one scope: since its activation, last the
// latest purchase in it (both unix ms).
type spell struct {
	Since int64 `json:"a"`
	Last  int64 `json:"l"`
}

func entryLess(a, b *entry) bool {
	return a.At < b.At || (a.At == b.At && a.ID < b.ID)
}

func sortEntries(es []entry) {
	slices.SortFunc(es, func(a, b entry) int {
		if c := cmp.Compare(a.At, b.At); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// upsert puts e into the history, replacing an entry with the same id (a
// revision).
func (c *customer) upsert(e entry) {
	c.Events = slices.DeleteFunc(c.Events, func(o entry) bool { return o.ID == e.ID })
	c.Events = append(c.Events, e)
	sortEntries(c.Events)
}

// walker replays a customer's history through activity spells, one scope
// at a time: activated at a purchase when not active; lost at a
// cancellation (every active scope) or at the last purchase + inactivity
// when no purchase came in between (never when inactivity is 0).
type walker struct {
	inactivity int64 // ms; 0: off
	// states holds one spell state per scope, in order of first
	// appearance: a customer has a handful of scopes, so a slice searched
	// in order beats a map.
	states   []walkState
	activate func(scope string, at int64)
	lose     func(scope string, at int64)
}

type walkState struct {
	scope       string
	on          bool
	since, last int64
}

func newWalker(carry map[string]spell, inactivity int64) *walker {
	w := &walker{inactivity: inactivity, states: make([]walkState, 0, 8+len(carry))}
	for _, sc := range slices.Sorted(maps.Keys(carry)) {
		sp := carry[sc]
		w.states = append(w.states, walkState{scope: sc, on: true, since: sp.Since, last: sp.Last})
	}
	return w
}

// state returns the spell state of scope sc, adding it when missing.
func (w *walker) state(sc string) *walkState {
	for i := range w.states {
		if w.states[i].scope == sc {
			return &w.states[i]
		}
	}
	w.states = append(w.states, walkState{scope: sc})
	return &w.states[len(w.states)-1]
}

// expire ends the spell of s if its inactivity loss falls at or before t.
func (w *walker) expire(s *walkState, t int64) {
	if s.on && w.inactivity > 0 && s.last+w.inactivity <= t {
		s.on = false
		if w.lose != nil {
			w.lose(s.scope, s.last+w.inactivity)
		}
	}
}

func (w *walker) step(e *entry) {
	if e.Cancel {
		for i := range w.states {
			s := &w.states[i]
			w.expire(s, e.At)
			if s.on {
				s.on = false
				if w.lose != nil {
					w.lose(s.scope, e.At)
				}
			}
		}
		return
	}
	for _, sc := range e.Scopes {
		s := w.state(sc)
		w.expire(s, e.At)
		if !s.on {
			s.on, s.since = true, e.At
			if w.activate != nil {
				w.activate(sc, e.At)
			}
		}
		s.last = e.At
	}
}

// finish applies the inactivity losses due by t.
func (w *walker) finish(t int64) {
	for i := range w.states {
		w.expire(&w.states[i], t)
	}
}

// derived is what a customer's history contributes at one instant.
type derived struct {
	counts []countKey       // sorted by compareCounts
	active map[string]int64 // scope → start of the current spell
	conv   string           // conversions-set member, "" when none
	convAt int64
	due    int64 // when the record must be looked at again; 0: never
}

// countKey is one derived counter in one scope at one instant.
type countKey struct {
	at      int64
	counter store.Counter
	scope   string
}

// derive computes what customer id's history contributes at now (unix ms).
func (c *customer) derive(id string, now int64, h customerHorizon) derived {
	d := derived{active: map[string]int64{}, counts: make([]countKey, 0, 8+4*len(c.Events))}
	one := func(at int64, scope string, k store.Counter) {
		d.counts = append(d.counts, countKey{at: at, scope: scope, counter: k})
	}
	first := c.First
	type last struct {
		scope string
		at    int64
	}
	latest := make([]last, 0, 8)
	for i := range c.Events {
		e := &c.Events[i]
		if e.Cancel {
			continue
		}
		if first == nil || entryLess(e, first) {
			first = e
		}
	scopes:
		for _, sc := range e.Scopes {
			for j := range latest {
				if latest[j].scope == sc {
					latest[j].at = max(latest[j].at, e.At)
					continue scopes
				}
			}
			latest = append(latest, last{sc, e.At})
		}
	}
	if first != nil {
		for _, sc := range first.Scopes {
			one(first.At, sc, store.CustomersNew)
			if first.Code != "" {
				one(first.At, sc, store.ReferredNew)
			}
		}
		if first.Code != "" {
			d.conv, d.convAt = store.ConversionMember(id, first.Code), first.At
		}
	}
	for _, l := range latest {
		one(l.at, l.scope, store.Purchasers)
	}
	w := newWalker(c.Carry, h.inactivity)
	w.activate = func(sc string, at int64) { one(at, sc, store.Activations) }
	w.lose = func(sc string, at int64) { one(at, sc, store.Losses) }
	for i := range c.Events {
		w.step(&c.Events[i])
	}
	w.finish(now)
	due := func(t int64) {
		if d.due == 0 || t < d.due {
			d.due = t
		}
	}
	for _, s := range w.states {
		if !s.on {
			continue
		}
		d.active[s.scope] = s.since
		if h.inactivity > 0 {
			due(s.last + h.inactivity)
		}
	}
	// Entries and carried spells are forgotten once nothing they decide
	// can show in any window (see compact).
	if len(c.Events) > 0 {
		due(c.Events[0].At + h.forget + 1)
	}
	if h.inactivity > 0 {
		for sc, sp := range c.Carry {
			if lapse := sp.Last + h.inactivity; !c.continues(sc, lapse) {
				due(lapse + h.visible + 1)
			}
		}
	}
	slices.SortFunc(d.counts, compareCounts)
	return d
}

// compareCounts orders derived counters by scope, counter and instant.
func compareCounts(a, b countKey) int {
	if c := strings.Compare(a.scope, b.scope); c != 0 {
		return c
	}
	if c := cmp.Compare(a.counter, b.counter); c != 0 {
		return c
	}
	return cmp.Compare(a.at, b.at)
}

// customerHorizon holds a tenant's customer-state durations, in ms.
type customerHorizon struct {
	inactivity int64 // 0: off
	// visible is how far back anything can still show in a window: the
	// largest window plus one of its buckets.
	visible int64
	// forget is how long an entry is kept: visible + inactivity.
	forget int64
}

func newCustomerHorizon(largest window.Window, inactivity time.Duration) customerHorizon {
	vis := (largest.Length + largest.Bucket).Milliseconds()
	return customerHorizon{inactivity: inactivity.Milliseconds(), visible: vis, forget: vis + inactivity.Milliseconds()}
}

// compact forgets the entries older than now − forget, keeping the
// earliest purchase and the spells under way at that cutoff; spells whose
// inactivity loss can no longer show in a window are dropped too. It
// reports whether anything is left to keep.
func (c *customer) compact(now int64, h customerHorizon) bool {
	cutoff := now - h.forget
	k := 0
	for k < len(c.Events) && c.Events[k].At < cutoff {
		k++
	}
	if k > 0 {
		old := c.Events[:k]
		for i := range old {
			if e := old[i]; !e.Cancel && (c.First == nil || entryLess(&e, c.First)) {
				c.First = &e
			}
		}
		w := newWalker(c.Carry, h.inactivity)
		for i := range old {
			w.step(&old[i])
		}
		w.finish(cutoff)
		c.Carry = map[string]spell{}
		for _, s := range w.states {
			if s.on {
				c.Carry[s.scope] = spell{Since: s.since, Last: s.last}
			}
		}
		c.Events = slices.Clone(c.Events[k:])
	}
	if h.inactivity > 0 {
		// A carried spell that no later purchase continues ends at its
		// inactivity loss; once that is older than any window, nothing
		// about the spell can show.
		for sc, sp := range c.Carry {
			lapse := sp.Last + h.inactivity
			if lapse < now-h.visible && !c.continues(sc, lapse) {
				delete(c.Carry, sc)
			}
		}
	}
	if len(c.Carry) == 0 {
		c.Carry = nil
	}
	return len(c.Events) > 0 || len(c.Carry) > 0
}

// continues reports whether a purchase in scope sc before lapse continues
// a carried spell.
func (c *customer) continues(sc string, lapse int64) bool {
	return slices.ContainsFunc(c.Events, func(e entry) bool {
		return !e.Cancel && e.At < lapse && slices.Contains(e.Scopes, sc)
	})
}

// historyEntry returns the history entry of a purchase or cancellation.
func historyEntry(it *item) entry {
	e := entry{ID: it.ev.ID, At: it.ev.OccurredAt.UnixMilli(), Cancel: it.ev.Type == events.TypeSubscriptionCancelled}
	if !e.Cancel {
		e.Scopes = it.scopes
		if it.ev.Purchase != nil {
			e.Code = it.ev.Purchase.ReferralCode
		}
	}
	return e
}

func decodeCustomer(id string, rec *store.CustomerRecord) (*customer, error) {
	c := &customer{}
	if rec == nil {
		return c, nil
	}
	if err := json.Unmarshal(rec.Data, c); err != nil {
		return nil, fmt.Errorf("record of customer %q: %w", id, err)
	}
	resolve := func(e *entry) error {
		e.Scopes = make([]string, len(e.Refs))
		for i, r := range e.Refs {
			if r < 0 || r >= len(c.Names) {
				return fmt.Errorf("record of customer %q: scope %d of %d", id, r, len(c.Names))
			}
			e.Scopes[i] = c.Names[r]
		}
		e.Refs = nil
		return nil
	}
	for i := range c.Events {
		if err := resolve(&c.Events[i]); err != nil {
			return nil, err
		}
	}
	if c.First != nil {
		if err := resolve(c.First); err != nil {
			return nil, err
		}
	}
	c.Names = nil
	return c, nil
}

// encode writes the record as JSON (what decodeCustomer reads), with each
// scope name stored once. It writes the fields itself: records are
// written for every purchase, and reflection was most of their cost.
func (c *customer) encode() ([]byte, error) {
	index := map[string]int{}
	var names []string
	b := make([]byte, 0, 64+48*len(c.Events))
	entry := func(b []byte, e *entry) []byte {
		b = append(b, `{"i":`...)
		b = appendJSONString(b, e.ID)
		if e.Cancel {
			b = append(b, `,"x":true`...)
		}
		b = append(b, `,"a":`...)
		b = strconv.AppendInt(b, e.At, 10)
		if len(e.Scopes) > 0 {
			b = append(b, `,"s":[`...)
			for i, sc := range e.Scopes {
				n, ok := index[sc]
				if !ok {
					n = len(names)
					index[sc] = n
					names = append(names, sc)
				}
				if i > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, int64(n), 10)
			}
			b = append(b, ']')
		}
		if e.Code != "" {
			b = append(b, `,"r":`...)
			b = appendJSONString(b, e.Code)
		}
		return append(b, '}')
	}
	b = append(b, '{')
	if len(c.Events) > 0 {
		b = append(b, `"e":[`...)
		for i := range c.Events {
			if i > 0 {
				b = append(b, ',')
			}
			b = entry(b, &c.Events[i])
		}
		b = append(b, "],"...)
	}
	if c.First != nil {
		b = append(b, `"f":`...)
		b = append(entry(b, c.First), ',')
	}
	if len(c.Carry) > 0 {
		b = append(b, `"c":{`...)
		for i, sc := range slices.Sorted(maps.Keys(c.Carry)) {
			if i > 0 {
				b = append(b, ',')
			}
			sp := c.Carry[sc]
			b = append(appendJSONString(b, sc), `:{"a":`...)
			b = strconv.AppendInt(b, sp.Since, 10)
			b = append(b, `,"l":`...)
			b = strconv.AppendInt(b, sp.Last, 10)
			b = append(b, '}')
		}
		b = append(b, "},"...)
	}
	b = append(b, `"t":`...)
	b = strconv.AppendInt(b, c.AsOf, 10)
	if len(names) > 0 {
		b = append(b, `,"n":[`...)
		for i, n := range names {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, n)
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// appendJSONString appends s as a JSON string. s is valid UTF-8 (it comes
// from decoded events); quotes, backslashes and control characters are
// escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '"' || ch == '\\':
			b = append(b, '\\', ch)
		case ch < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[ch>>4], hex[ch&0xf])
		default:
			b = append(b, ch)
		}
	}
	return append(b, '"')
}

// knownCustomer is a customer's stored record together with what this
// instance made of it: the decoded history and what it derived at its
// AsOf. A knownCustomer is never changed once built (caches share it);
// hist is nil when only the record is known.
type knownCustomer struct {
	rec  *store.CustomerRecord // nil: none stored
	hist *customer
	at   derived
}

// state returns the customer's history and what it derived at its AsOf,
// decoding the record when this instance has not yet.
func (k *knownCustomer) state(id string, h customerHorizon) (*customer, derived, error) {
	switch {
	case k == nil || k.rec == nil:
		return &customer{}, derived{}, nil
	case k.hist != nil:
		return k.hist, k.at, nil
	}
	c, err := decodeCustomer(id, k.rec)
	if err != nil {
		return nil, derived{}, err
	}
	return c, c.derive(id, c.AsOf, h), nil
}

// planCustomer adds to pl and out what customer id's history change does:
// the retraction of what the stored history derived at its AsOf and the
// addition of what the new history derives at now. entries are the
// customer's new or revised entries (nil when only time has passed).
func planCustomer(pl *planner, out *plan, id string, known *knownCustomer, entries []entry, now time.Time, h customerHorizon) error {
	old, before, err := known.state(id, h)
	if err != nil {
		return err
	}
	nowMs := now.UnixMilli()
	cur := *old
	cur.Events = slices.Clone(old.Events)
	cur.Carry = maps.Clone(old.Carry)
	for _, e := range entries {
		cur.upsert(e)
	}
	keep := cur.compact(nowMs, h)
	cur.AsOf = nowMs
	after := cur.derive(id, nowMs, h)
	// Most of what a history derives is the same before and after a new
	// purchase (the first purchase, the spells already under way): only
	// the difference goes to the planner.
	// Both lists are sorted: one merge finds what only one of them holds
	// (as multisets: a count derived twice is matched twice).
	b, a := before.counts, after.counts
	for len(b) > 0 || len(a) > 0 {
		var c int
		switch {
		case len(a) == 0:
			c = -1
		case len(b) == 0:
			c = 1
		default:
			c = compareCounts(b[0], a[0])
		}
		switch {
		case c < 0:
			pl.addCount(b[0].scope, time.UnixMilli(b[0].at), b[0].counter, -1)
			b = b[1:]
		case c > 0:
			pl.addCount(a[0].scope, time.UnixMilli(a[0].at), a[0].counter, 1)
			a = a[1:]
		default:
			b, a = b[1:], a[1:]
		}
	}
	u := store.CustomerUpdate{ID: id, Expect: store.NewEvent, Version: nowMs}
	var rec *store.CustomerRecord
	if known != nil && known.rec != nil {
		rec = known.rec
		u.Expect = rec.Version
		u.Version = max(rec.Version+1, nowMs)
	}
	if keep {
		if u.Record, err = cur.encode(); err != nil {
			return err
		}
		u.Due = after.due
		if rec != nil && after.due == before.due {
			u.Due = store.DueUnchanged
		}
	} else {
		after = derived{}
	}
	for sc := range before.active {
		if _, ok := after.active[sc]; !ok {
			u.Active = append(u.Active, store.ActiveChange{Scope: sc, Remove: true})
		}
	}
	for sc, since := range after.active {
		if old, ok := before.active[sc]; !ok || old != since {
			u.Active = append(u.Active, store.ActiveChange{Scope: sc, Since: since})
		}
	}
	if before.conv != after.conv || before.convAt != after.convAt {
		u.ConversionDel, u.ConversionAdd, u.ConversionAt = before.conv, after.conv, after.convAt
	}
	out.slice.Customers = append(out.slice.Customers, u)
	next := &knownCustomer{}
	if u.Record != nil {
		next = &knownCustomer{rec: &store.CustomerRecord{Version: u.Version, Data: u.Record}, hist: &cur, at: after}
	}
	out.known[id] = next
	return nil
}
