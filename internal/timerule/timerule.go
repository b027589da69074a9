// Package timerule decides whether an event's time can still count: not
// too far ahead, and in some rolling window or kept calendar period of its
// tenant (docs/events.md, docs/metrics.md). The aggregator dead-letters what fails it; ingest
// and the import refuse it up front, so nothing is accepted only to be
// dropped.
package timerule

import (
	"fmt"
	"time"

	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// Reason codes of a time out of bounds (the cxpulse-error header).
const (
	TooLate  = "too_late"
	InFuture = "in_future"
)

// Rule holds the time bounds of the tenants of a registry under windows
// whose largest is largest.
type Rule struct {
	tenants *tenants.Registry
	largest window.Window
}

// New returns the rule for the tenants of reg (nil: every tenant, with the
// defaults) and windows whose largest is largest.
func New(reg *tenants.Registry, largest window.Window) *Rule {
	return &Rule{tenants: reg, largest: largest}
}

// Check returns the reason (InFuture or TooLate) and its detail, naming
// occurred_at, when an event's time is out of bounds at now, "" otherwise:
// more than the tolerance ahead, or in no window and no calendar period
// kept (those back to the start of the previous year of the tenant's
// calendar). Purchases and cancellations also count for their customer's
// history while within the largest window plus the tenant's inactivity
// horizon (docs/metrics.md, InHistory).
func (r *Rule) Check(ev *events.Event, now time.Time) (reason, detail string) {
	if window.InFuture(ev.OccurredAt, now) {
		return InFuture, fmt.Sprintf("occurred_at: %s is more than %s ahead of %s",
			ev.OccurredAt.Format(time.RFC3339Nano), window.FutureTolerance, now.UTC().Format(time.RFC3339))
	}
	if !r.largest.TooLate(ev.OccurredAt, now) || (stats.ShapesHistory(ev.Type) && r.InHistory(ev.Tenant, ev.OccurredAt, now)) {
		return "", ""
	}
	t, _ := r.tenants.Get(ev.Tenant)
	sys := t.Periods
	from := sys.RetainedFrom(sys.Day(now))
	if sys.Day(ev.OccurredAt) >= from {
		return "", ""
	}
	return TooLate, fmt.Sprintf("occurred_at: %s is older than the largest window (%s) and before %s (%s), the start of the previous year, the oldest calendar period kept, at %s",
		ev.OccurredAt.Format(time.RFC3339Nano), r.largest.Name, sys.Calendar.Date(from), sys.Loc, now.UTC().Format(time.RFC3339))
}

// InHistory reports whether a purchase or cancellation of tenant at is
// within the customer-state horizon at now: the largest window plus the
// tenant's inactivity horizon. Older ones count in calendar periods only.
func (r *Rule) InHistory(tenant string, at, now time.Time) bool {
	t, _ := r.tenants.Get(tenant)
	return !r.largest.TooLate(at, now.Add(-t.ChurnInactivity))
}

// OldestKept returns the oldest instant at now that any tenant of the
// registry (or one with the defaults) still counts an event at: in a
// calendar period kept, or in a customer's history.
func (r *Rule) OldestKept(now time.Time) time.Time {
	var oldest time.Time
	for i, name := range append(r.tenants.Names(), "") {
		if at := r.OldestKeptFor(name, now); i == 0 || at.Before(oldest) {
			oldest = at
		}
	}
	return oldest
}

// OldestKeptFor is OldestKept for one tenant.
func (r *Rule) OldestKeptFor(tenant string, now time.Time) time.Time {
	t, _ := r.tenants.Get(tenant)
	sys := t.Periods
	at := sys.Start(sys.RetainedFrom(sys.Day(now)))
	if h := now.Add(-t.ChurnInactivity - r.largest.Length); h.Before(at) {
		at = h
	}
	return at
}
