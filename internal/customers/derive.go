package customers

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// Derived is what a customer's history contributes at one instant.
type Derived struct {
	counts []Count          // sorted by compareCounts
	active map[string]int64 // scope → start of the current spell
	conv   string           // referral code of the first purchase, "" when none
	convAt int64
	due    int64 // when the record must be looked at again; 0: never
}

// Count is one derived counter in one scope at one instant (unix ms).
type Count struct {
	At      int64
	Counter stats.Counter
	Scope   string
}

// Horizon holds a tenant's customer-state durations, in ms.
type Horizon struct {
	inactivity int64 // 0: off
	// visible is how far back anything can still show in a window: the
	// largest window plus one of its buckets.
	visible int64
	// forget is how long an entry is kept: visible + inactivity.
	forget int64
}

// OffInactivity is the inactivity horizon of a tenant whose
// churn_inactivity is off: such a customer is lost at a cancellation, or
// after two years without a purchase, so that what is kept of customers
// stays bounded (docs/metrics.md).
const OffInactivity = 730 * 24 * time.Hour

// NewHorizon returns the customer-state durations of a tenant whose
// largest window is largest and whose inactivity horizon is inactivity
// (0: none, as the model's tests use; a tenant with churn_inactivity off
// gets OffInactivity).
func NewHorizon(largest window.Window, inactivity time.Duration) Horizon {
	vis := (largest.Length + largest.Bucket).Milliseconds()
	return Horizon{inactivity: inactivity.Milliseconds(), visible: vis, forget: vis + inactivity.Milliseconds()}
}

// TenantHorizon returns the customer-state durations of a tenant whose
// largest window is largest and whose churn_inactivity is inactivity (0:
// off, which keeps OffInactivity).
func TenantHorizon(largest window.Window, inactivity time.Duration) Horizon {
	if inactivity == 0 {
		inactivity = OffInactivity
	}
	return NewHorizon(largest, inactivity)
}

// derive computes what customer id's history contributes at now (unix ms).
func (c *History) derive(now int64, h Horizon) Derived {
	d := Derived{active: map[string]int64{}, counts: make([]Count, 0, 8+4*len(c.Events))}
	one := func(at int64, scope string, k stats.Counter) {
		d.counts = append(d.counts, Count{At: at, Scope: scope, Counter: k})
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
		if e.firstOnly() {
			continue // no purchaser
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
			one(first.At, sc, stats.CustomersNew)
			if first.Code != "" {
				one(first.At, sc, stats.ReferredNew)
			}
		}
		if first.Code != "" {
			d.conv, d.convAt = first.Code, first.At
		}
	}
	for _, l := range latest {
		one(l.at, l.scope, stats.Purchasers)
	}
	w := newWalker(c.Carry, h.inactivity)
	w.activate = func(sc string, at int64) { one(at, sc, stats.Activations) }
	w.lose = func(sc string, at int64) { one(at, sc, stats.Losses) }
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
func compareCounts(a, b Count) int {
	if c := strings.Compare(a.Scope, b.Scope); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Counter, b.Counter); c != 0 {
		return c
	}
	return cmp.Compare(a.At, b.At)
}

// compact forgets the entries older than now − forget, keeping the
// earliest purchase and the spells under way at that cutoff; spells whose
// inactivity loss can no longer show in a window are dropped too. It
// reports whether anything is left to keep: the earliest purchase always
// is.
func (c *History) compact(now int64, h Horizon) bool {
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
		c.Carry = map[string]Spell{}
		for _, s := range w.states {
			if s.on {
				c.Carry[s.scope] = Spell{Since: s.since, Last: s.last}
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
	// The earliest purchase is kept as long as the customer exists: a
	// returning customer is never new.
	return len(c.Events) > 0 || len(c.Carry) > 0 || c.First != nil
}

// continues reports whether a purchase in scope sc before lapse continues
// a carried spell.
func (c *History) continues(sc string, lapse int64) bool {
	return slices.ContainsFunc(c.Events, func(e Entry) bool {
		return !e.Cancel && !e.firstOnly() && e.At < lapse && slices.Contains(e.Scopes, sc)
	})
}
