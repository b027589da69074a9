// Package tickets is the model of one support ticket's lifecycle
// (docs/metrics.md, ticket service): from the set of the ticket's events,
// ordered by occurred_at, it derives its statuses over time and the
// service figures Zendesk defines (first reply, full resolution, requester
// wait, agent work, one-touch) in calendar and business time, and whether
// its SLA targets were met or breached. Like the customer model it is pure
// and answers the same for the same set of events in any arrival order:
// the caller retracts what the stored events derived and adds what the
// new set derives.
package tickets

import (
	"cmp"
	"slices"
	"time"

	"github.com/cxpulse/cxpulse/internal/bizhours"
)

// Status is a ticket's status.
type Status string

// Statuses; closed counts as solved.
const (
	New     Status = "new"
	Open    Status = "open"
	Pending Status = "pending"
	OnHold  Status = "on_hold"
	Solved  Status = "solved"
	Closed  Status = "closed"
)

// solved reports whether a status counts as solved.
func (s Status) solved() bool { return s == Solved || s == Closed }

// Kind is what a ticket event says.
type Kind uint8

// Kinds of ticket events: ticket.opened, ticket.replied, and a status
// change (ticket.status_changed; ticket.resolved is a change to solved,
// ticket.reopened one to open).
const (
	Opened Kind = iota + 1
	Replied
	StatusChanged
)

// Event is one event of a ticket.
type Event struct {
	ID string
	At time.Time
	// Kind says which of the fields below it sets.
	Kind Kind
	// Priority of an Opened event (low, normal, high, urgent; "" normal).
	Priority string
	// Agent and Public of a Replied event: an agent's public reply is
	// what first reply and one-touch count.
	Agent, Public bool
	// Status of a StatusChanged event.
	Status Status
}

// Targets are the SLA targets of a ticket's priority (0: none) and how
// their deadlines fall (Deadline: calendar or business time from the
// opening).
type Targets struct {
	FirstReply, Resolution time.Duration
	Deadline               func(opened time.Time, d time.Duration) time.Time
}

// Settings are what a tenant's settings give the model: its business
// hours (nil: none, and no business figures) and its SLA targets per
// priority (a priority missing has none).
type Settings struct {
	Hours   *bizhours.Schedule
	Targets func(priority string) Targets
}

// Figure names a derived figure; a duration is in seconds, a count is 1.
type Figure string

// The figures of a ticket (docs/metrics.md): a duration in calendar and,
// with business hours, business seconds; SLA outcomes; solves.
const (
	FirstReply             Figure = "first_reply"
	FirstReplyBusiness     Figure = "first_reply_business"
	FullResolution         Figure = "full_resolution"
	FullResolutionBusiness Figure = "full_resolution_business"
	RequesterWait          Figure = "requester_wait"
	RequesterWaitBusiness  Figure = "requester_wait_business"
	AgentWork              Figure = "agent_work"
	AgentWorkBusiness      Figure = "agent_work_business"
	SolvedCount            Figure = "solved"
	OneTouch               Figure = "one_touch"
	SLAFirstReplyMet       Figure = "sla_first_reply_met"
	SLAFirstReplyBreached  Figure = "sla_first_reply_breached"
	SLAResolutionMet       Figure = "sla_resolution_met"
	SLAResolutionBreached  Figure = "sla_resolution_breached"
)

// Count is one derived figure at the instant it counts at.
type Count struct {
	At     time.Time
	Figure Figure
	Value  float64
}

// Derived is what a ticket's events derive at one instant.
type Derived struct {
	// Counts, ordered by instant then figure.
	Counts []Count
	// Status is the ticket's status now ("" before it is opened).
	Status Status
	// Deadlines are the SLA deadlines still pending at now (no reply, or
	// no solve, yet): the view's "at risk" and when the caller must derive
	// again (a breach counts at its deadline).
	Deadlines []time.Time
}

// Derive works out what the set of a ticket's events derives at now. Events
// after now are taken as they come (the caller's time rule bounds them).
func Derive(evs []Event, now time.Time, set Settings) Derived {
	evs = slices.Clone(evs)
	slices.SortFunc(evs, func(a, b Event) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	var d Derived
	open := slices.IndexFunc(evs, func(e Event) bool { return e.Kind == Opened })
	if open < 0 {
		return d // not opened yet: nothing to measure from
	}
	opened := evs[open].At
	w := walk(evs, opened)
	d.Status = w.status
	add := func(at time.Time, f Figure, v float64) { d.Counts = append(d.Counts, Count{at, f, v}) }
	dur := func(at time.Time, cal, biz Figure, from, to time.Time) {
		add(at, cal, to.Sub(from).Seconds())
		if set.Hours != nil {
			add(at, biz, set.Hours.Between(from, to).Seconds())
		}
	}
	if !w.firstReply.IsZero() {
		dur(w.firstReply, FirstReply, FirstReplyBusiness, opened, w.firstReply)
	}
	if w.status.solved() {
		at := w.lastSolve
		add(at, SolvedCount, 1)
		if w.publicReplies == 1 {
			add(at, OneTouch, 1)
		}
		dur(at, FullResolution, FullResolutionBusiness, opened, at)
		add(at, RequesterWait, w.requester.Seconds())
		add(at, AgentWork, w.agent.Seconds())
		if set.Hours != nil {
			add(at, RequesterWaitBusiness, w.businessIn(set.Hours, at, true).Seconds())
			add(at, AgentWorkBusiness, w.businessIn(set.Hours, at, false).Seconds())
		}
	}
	if set.Targets != nil {
		tg := set.Targets(evs[open].Priority)
		d.sla(now, opened, tg, tg.FirstReply, w.firstReply, SLAFirstReplyMet, SLAFirstReplyBreached)
		d.sla(now, opened, tg, tg.Resolution, w.firstSolve, SLAResolutionMet, SLAResolutionBreached)
	}
	slices.SortFunc(d.Counts, func(a, b Count) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return cmp.Compare(a.Figure, b.Figure)
	})
	return d
}

// sla counts one target's outcome: met at the event when it came by the
// deadline, breached at the deadline once that has passed without it
// (whatever comes later), else pending (a deadline to look at again).
func (d *Derived) sla(now, opened time.Time, tg Targets, target time.Duration, done time.Time, met, breached Figure) {
	if target <= 0 {
		return
	}
	deadline := opened.Add(target)
	if tg.Deadline != nil {
		deadline = tg.Deadline(opened, target)
	}
	switch {
	case !done.IsZero() && !done.After(deadline):
		d.Counts = append(d.Counts, Count{done, met, 1})
	case !deadline.After(now):
		d.Counts = append(d.Counts, Count{deadline, breached, 1})
	default:
		d.Deadlines = append(d.Deadlines, deadline)
	}
}

// walked is what one pass over a ticket's ordered events finds.
type walked struct {
	status                Status
	firstReply            time.Time // first public agent reply at or after the opening
	firstSolve, lastSolve time.Time // first and latest change into solved
	publicReplies         int
	// requester and agent are the time spent in new, open and on_hold
	// (requester wait) and in new and open (agent work), up to the
	// latest solve; spans keeps those stretches for business time.
	requester, agent time.Duration
	spans            []span
}

type span struct {
	from, to time.Time
	status   Status
}

// walk replays the statuses from the opening: new at the opening, then
// each status change in order (those before the opening are ignored).
func walk(evs []Event, opened time.Time) walked {
	w := walked{status: New}
	since := opened
	for _, e := range evs {
		if e.At.Before(opened) {
			continue
		}
		switch e.Kind {
		case Replied:
			if e.Agent && e.Public {
				w.publicReplies++
				if w.firstReply.IsZero() {
					w.firstReply = e.At
				}
			}
		case StatusChanged:
			if e.Status == w.status {
				continue
			}
			w.spans = append(w.spans, span{since, e.At, w.status})
			if e.Status.solved() && !w.status.solved() {
				if w.firstSolve.IsZero() {
					w.firstSolve = e.At
				}
				w.lastSolve = e.At
			}
			w.status, since = e.Status, e.At
		}
	}
	for _, s := range w.spans {
		if s.to.After(w.lastSolve) {
			break
		}
		if s.status == New || s.status == Open || s.status == OnHold {
			w.requester += s.to.Sub(s.from)
		}
		if s.status == New || s.status == Open {
			w.agent += s.to.Sub(s.from)
		}
	}
	return w
}

// businessIn is the business time of the requester-wait (or agent-work)
// stretches up to the latest solve.
func (w *walked) businessIn(h *bizhours.Schedule, until time.Time, requester bool) time.Duration {
	var sum time.Duration
	for _, s := range w.spans {
		if s.to.After(until) {
			break
		}
		if s.status == New || s.status == Open || (requester && s.status == OnHold) {
			sum += h.Between(s.from, s.to)
		}
	}
	return sum
}
