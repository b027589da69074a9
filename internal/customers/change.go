package customers

import (
	"maps"
	"slices"
	"time"
)

// Known is a customer's stored record together with what this instance
// made of it: the decoded history and what it derived at its AsOf. A Known
// is never changed once built (caches share it); hist is nil when only the
// record is known.
type Known struct {
	stored  bool // false: no record is stored
	version int64
	data    []byte
	hist    *History
	at      Derived
}

// Stored returns what is known of a customer whose stored record is data
// at version.
func Stored(version int64, data []byte) *Known {
	return &Known{stored: true, version: version, data: data}
}

// Absent returns what is known of a customer with no stored record.
func Absent() *Known { return &Known{} }

// state returns the customer's history and what it derived at its AsOf,
// decoding the record when this instance has not yet.
func (k *Known) state(id string, h Horizon) (*History, Derived, error) {
	switch {
	case k == nil || !k.stored:
		return &History{}, Derived{}, nil
	case k.hist != nil:
		return k.hist, k.at, nil
	}
	c, err := Decode(id, k.data)
	if err != nil {
		return nil, Derived{}, err
	}
	return c, c.derive(c.AsOf, h), nil
}

// ActiveChange is one change to a scope's set of active customers.
type ActiveChange struct {
	Scope  string
	Since  int64 // spell start, unix ms
	Remove bool
}

// Change is what one change of a customer's history does besides moving
// derived counters: the record to store in place of the one the change
// was planned from, and what follows from it outside the counters.
type Change struct {
	// Expect is the stored version the change was made from; Stored is
	// false when none was.
	Stored  bool
	Expect  int64
	Version int64  // above Expect, and no less than now in unix ms
	Record  []byte // nil forgets the customer
	// Due is when the record must be looked at again (unix ms; 0: never),
	// unless DueUnchanged.
	Due          int64
	DueUnchanged bool
	Active       []ActiveChange
	// ConversionMoved is true when the referral conversion (the referral
	// code of the first purchase) moved from ConversionDel to
	// ConversionAdd at ConversionAt; "" is none.
	ConversionMoved              bool
	ConversionDel, ConversionAdd string
	ConversionAt                 int64
	// Next is what is known of the customer once the change is stored.
	Next *Known
}

// Plan works out what a change of customer id's history does: the
// retraction of what the stored history derived at its AsOf and the
// addition of what the new history derives at now. entries are the new or
// revised entries (none when only time has passed: inactivity losses and
// forgetting). move is given every derived counter to add (n = 1) or
// retract (n = −1).
func Plan(id string, known *Known, entries []Entry, now time.Time, h Horizon, move func(c Count, n float64)) (Change, error) {
	return change(id, known, func(cur *History) {
		for _, e := range entries {
			cur.upsert(e)
		}
	}, now, h, move)
}

// Erase works out what erasing customer id does: their history up to and
// including upTo (unix ms) is removed, with everything it left behind (the
// forgotten first purchase, the spells under way), as if it had never
// been; entries after upTo (events that occurred after the erasure) stay.
// move is given every derived counter to add or retract, as for Plan.
func Erase(id string, known *Known, upTo int64, now time.Time, h Horizon, move func(c Count, n float64)) (Change, error) {
	return change(id, known, func(cur *History) {
		cur.Events = slices.DeleteFunc(cur.Events, func(e Entry) bool { return e.At <= upTo })
		cur.First, cur.Carry = nil, nil
	}, now, h, move)
}

// change works out what editing customer id's history does: what the
// stored history derived at its AsOf is retracted, what the edited one
// derives at now is added.
func change(id string, known *Known, edit func(*History), now time.Time, h Horizon, move func(c Count, n float64)) (Change, error) {
	old, before, err := known.state(id, h)
	if err != nil {
		return Change{}, err
	}
	nowMs := now.UnixMilli()
	cur := *old
	cur.Events = slices.Clone(old.Events)
	cur.Carry = maps.Clone(old.Carry)
	edit(&cur)
	keep := cur.compact(nowMs, h)
	cur.AsOf = nowMs
	after := cur.derive(nowMs, h)
	var ch Change
	// Most of what a history derives is the same before and after a new
	// purchase (the first purchase, the spells already under way): only
	// the difference is moved. Both lists are sorted: one merge finds what
	// only one of them holds (as multisets: a count derived twice is
	// matched twice).
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
			move(b[0], -1)
			b = b[1:]
		case c > 0:
			move(a[0], 1)
			a = a[1:]
		default:
			b, a = b[1:], a[1:]
		}
	}
	ch.Version = nowMs
	if known != nil && known.stored {
		ch.Stored, ch.Expect = true, known.version
		ch.Version = max(known.version+1, nowMs)
	}
	if keep {
		ch.Record = cur.Encode()
		ch.Due = after.due
		ch.DueUnchanged = ch.Stored && after.due == before.due
	} else {
		after = Derived{}
	}
	for sc := range before.active {
		if _, ok := after.active[sc]; !ok {
			ch.Active = append(ch.Active, ActiveChange{Scope: sc, Remove: true})
		}
	}
	for sc, since := range after.active {
		if old, ok := before.active[sc]; !ok || old != since {
			ch.Active = append(ch.Active, ActiveChange{Scope: sc, Since: since})
		}
	}
	if before.conv != after.conv || before.convAt != after.convAt {
		ch.ConversionMoved = true
		ch.ConversionDel, ch.ConversionAdd, ch.ConversionAt = before.conv, after.conv, after.convAt
	}
	ch.Next = Absent()
	if ch.Record != nil {
		ch.Next = &Known{stored: true, version: ch.Version, data: ch.Record, hist: &cur, at: after}
	}
	return ch, nil
}
