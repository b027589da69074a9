// Package customers is the model of one customer's commerce history
// (docs/metrics.md): their purchases and cancellations in event-time order,
// replayed through activity spells, from which every commerce figure that
// depends on more than one event is derived (first purchase, activity
// spells, distinct purchasers, referral conversion). It is pure: reading
// and writing the records, and adding what they derive to the buckets, is
// left to the store and the pipeline.
package customers

import (
	"cmp"
	"maps"
	"slices"
	"strings"
)

// History is what is kept of one customer of a tenant: their completed
// purchases and cancellations within the customer-state horizon, in
// event-time order, and what older, forgotten entries left behind. A late
// or revised event moves the derived figures to where they belong: the
// plan retracts what the old history derived and adds what the new one
// derives.
type History struct {
	Events []Entry `json:"e,omitempty"`
	// First is the customer's earliest purchase once its entry has been
	// forgotten, so that a later purchase is not counted as a first one.
	First *Entry `json:"f,omitempty"`
	// Carry holds, per scope, the activity spell that was under way when
	// the forgotten entries ended.
	Carry map[string]Spell `json:"c,omitempty"`
	// AsOf is the instant (unix ms) the stored figures were derived at.
	AsOf int64 `json:"t"`
	// Names is the record's table of scope names: entries refer to it by
	// position, so each name is stored once per customer.
	Names []string `json:"n,omitempty"`
}

// SinceSuffix ends the id of the entry a purchase's customer_since makes:
// a first-only purchase at that instant, in the scopes of the purchase
// that says it.
const SinceSuffix = "#since"

// Entry is one purchase or cancellation of a customer.
type Entry struct {
	ID     string   `json:"i"`
	Cancel bool     `json:"x,omitempty"`
	At     int64    `json:"a"` // occurred_at, unix ms
	Scopes []string `json:"-"`
	Refs   []int    `json:"s,omitempty"` // Scopes as positions in History.Names, when stored
	Code   string   `json:"r,omitempty"` // referral code of a purchase
	// FirstOnly marks a purchase that only says when the customer bought
	// first: one older than the customer-state horizon, or a
	// customer_since. It may be the customer's first purchase (counted
	// new at its time, in its scopes) but is no purchaser and starts no
	// activity spell.
	FirstOnly bool `json:"o,omitempty"`
}

// firstOnly reports whether e only says when the customer bought first
// (records stored before FirstOnly mark a customer_since by its id).
func (e *Entry) firstOnly() bool { return e.FirstOnly || strings.HasSuffix(e.ID, SinceSuffix) }

// Spell is an activity spell in one scope: since its activation, last the
// latest purchase in it (both unix ms).
type Spell struct {
	Since int64 `json:"a"`
	Last  int64 `json:"l"`
}

// entryLess orders entries by time; at one instant a real purchase comes
// before a customer_since, so that a tie leaves the purchase first (with
// its referral code), then by id.
func entryLess(a, b *Entry) bool {
	if a.At != b.At {
		return a.At < b.At
	}
	if as, bs := strings.HasSuffix(a.ID, SinceSuffix), strings.HasSuffix(b.ID, SinceSuffix); as != bs {
		return bs
	}
	return a.ID < b.ID
}

func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		if c := cmp.Compare(a.At, b.At); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// upsert puts e into the history, replacing an entry with the same id (a
// revision).
func (c *History) upsert(e Entry) {
	c.Events = slices.DeleteFunc(c.Events, func(o Entry) bool { return o.ID == e.ID })
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
	// appearance: a customer has a handful of scopes, searched in order.
	states   []walkState
	activate func(scope string, at int64)
	lose     func(scope string, at int64)
}

type walkState struct {
	scope       string
	on          bool
	since, last int64
}

func newWalker(carry map[string]Spell, inactivity int64) *walker {
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

func (w *walker) step(e *Entry) {
	if e.firstOnly() {
		return
	}
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
