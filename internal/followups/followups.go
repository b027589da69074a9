// Package followups is the model of one closed-loop follow-up case: a
// detractor answer opens it, contacts and a close move it, and it is
// overdue when not closed by its deadline (calendar or business time from
// the opening). From the answer and the set of the case's events, in any
// arrival order, it derives the figures the case counts and the instant
// each counts at; like the ticket and customer models it is pure, and the
// caller retracts what the stored case derived and adds what the new one
// derives.
package followups

import (
	"slices"
	"time"
)

// Answer is the survey answer a case would open from.
type Answer struct {
	ID     string
	At     time.Time
	Metric string // nps, csat or ces
	Score  int
	// Customer is who answered: a case needs one, to follow up with.
	Customer string
}

// Kind is what a follow-up event says.
type Kind uint8

// Kinds of follow-up events: followup.contacted and followup.closed.
const (
	Contacted Kind = iota + 1
	Closed
)

// Event is one follow-up event of a case.
type Event struct {
	ID   string
	At   time.Time
	Kind Kind
}

// Rule is a tenant's closed_loop setting: which answers open a case, and
// when a case falls due.
type Rule struct {
	// Detractors (NPS 0–6), CSATLow (CSAT 1–2) and CESHard (CES 1–3) open
	// cases.
	Detractors, CSATLow, CESHard bool
	// CloseWithin is the target; Deadline places it from the opening
	// (calendar time when nil).
	CloseWithin time.Duration
	Deadline    func(opened time.Time, d time.Duration) time.Time
}

// Opens reports whether an answer opens a case under r.
func (r Rule) Opens(a Answer) bool {
	if a.Customer == "" {
		return false
	}
	switch a.Metric {
	case "nps":
		return r.Detractors && a.Score <= 6
	case "csat":
		return r.CSATLow && a.Score <= 2
	case "ces":
		return r.CESHard && a.Score <= 3
	}
	return false
}

// Figure names a derived figure; a duration is in seconds, a count is 1.
type Figure string

// The figures of a case (docs/metrics.md).
const (
	Opened             Figure = "followups_opened"
	ContactedCount     Figure = "followups_contacted"
	ClosedCount        Figure = "followups_closed"
	TimeToContact      Figure = "followup_time_to_contact"
	TimeToClose        Figure = "followup_time_to_close"
	ClosedWithinTarget Figure = "followups_closed_within_target"
	Overdue            Figure = "followups_overdue"
)

// Count is one derived figure at the instant it counts at.
type Count struct {
	At     time.Time
	Figure Figure
	Value  float64
}

// Derived is what a case derives at one instant.
type Derived struct {
	// Counts, in the order above.
	Counts []Count
	// Open reports a case opened and not closed: the view's live
	// followups_open.
	Open bool
	// Deadline is when the case falls due while it is open and not yet
	// overdue (the caller derives again then); zero otherwise.
	Deadline time.Time
}

// Derive works out what the case of answer a (nil: the answer has not
// arrived) with events evs derives at now under r: nothing when the
// answer opens no case (a revision that makes it no detractor withdraws
// the case). The first contact and the first close count; later ones
// change nothing.
func Derive(a *Answer, evs []Event, now time.Time, r Rule) Derived {
	var d Derived
	if a == nil || !r.Opens(*a) {
		return d
	}
	first := func(k Kind) (time.Time, bool) {
		var at time.Time
		found := false
		for _, e := range evs {
			if e.Kind == k && (!found || e.At.Before(at)) {
				at, found = e.At, true
			}
		}
		return at, found
	}
	add := func(at time.Time, f Figure, v float64) { d.Counts = append(d.Counts, Count{at, f, v}) }
	opened := a.At
	add(opened, Opened, 1)
	if at, ok := first(Contacted); ok {
		add(at, ContactedCount, 1)
		add(at, TimeToContact, max(0, at.Sub(opened).Seconds()))
	}
	deadline := opened.Add(r.CloseWithin)
	if r.Deadline != nil {
		deadline = r.Deadline(opened, r.CloseWithin)
	}
	closed, isClosed := first(Closed)
	if isClosed {
		add(closed, ClosedCount, 1)
		add(closed, TimeToClose, max(0, closed.Sub(opened).Seconds()))
		if !closed.After(deadline) {
			add(closed, ClosedWithinTarget, 1)
		}
	}
	switch {
	case (!isClosed || closed.After(deadline)) && !deadline.After(now):
		add(deadline, Overdue, 1)
	case !isClosed:
		d.Deadline = deadline
	}
	d.Open = !isClosed
	slices.SortStableFunc(d.Counts, func(x, y Count) int { return x.At.Compare(y.At) })
	return d
}
