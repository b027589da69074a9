// Package deadletter holds every rule that sends an input message to
// cx.deadletter instead of counting it (DESIGN §2): the reason codes, the
// checks that need no stored state, the time bounds, the revision
// conflicts, and the writing of dead letters with the headers consumers
// key on, directly or from a tenant's outbox. Counting the rest is left to
// the pipeline.
package deadletter

import (
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// Reason codes, the cxpulse-error header (DESIGN §2).
const (
	ReasonMalformed        = "malformed_json"
	ReasonInvalid          = "invalid_event"
	ReasonTooLate          = "too_late"
	ReasonInFuture         = "in_future"
	ReasonRevisionConflict = "revision_conflict"
	ReasonCurrency         = "currency_mismatch"
	ReasonUnknownTenant    = "unknown_tenant"
)

// Rules decides which messages are dead letters.
type Rules struct {
	tenants *tenants.Registry
	topicOf map[events.Type]string
	largest window.Window
}

// NewRules returns the rules for input topics under prefix, the tenants
// of reg (nil: every tenant, with the defaults) and windows whose largest
// is largest.
func NewRules(reg *tenants.Registry, prefix string, largest window.Window) *Rules {
	r := &Rules{tenants: reg, topicOf: map[events.Type]string{}, largest: largest}
	for _, t := range events.Types {
		r.topicOf[t] = t.Topic(prefix)
	}
	return r
}

// Letter returns the dead letter of m with a reason code and its detail.
func Letter(m *kafka.Message, reason, detail string) store.Letter {
	return store.Letter{Key: m.Key, Value: m.Value, Reason: reason, Detail: detail, Source: Source(m)}
}

// Source names a message for the cxpulse-source header:
// topic/partition/offset.
func Source(m *kafka.Message) string {
	return fmt.Sprintf("%s/%d/%d", m.Topic, m.Partition, m.Offset)
}

// Check returns the dead letter of m, decoded as ev with decodeErr, when
// it is one regardless of what is stored: malformed or invalid, on the
// wrong topic, of an unknown tenant, or in another currency than the
// tenant's. It returns nil for a message to count; its time is checked by
// CheckTime.
func (r *Rules) Check(m *kafka.Message, ev *events.Event, decodeErr error) *store.Letter {
	dead := func(reason, detail string) *store.Letter {
		l := Letter(m, reason, detail)
		return &l
	}
	switch {
	case decodeErr == nil:
	case errors.Is(decodeErr, events.ErrMalformed):
		return dead(ReasonMalformed, decodeErr.Error())
	default:
		return dead(ReasonInvalid, decodeErr.Error())
	}
	if want := r.topicOf[ev.Type]; want != m.Topic {
		return dead(ReasonInvalid, fmt.Sprintf("type: %s belongs on %s, not %s", ev.Type, want, m.Topic))
	}
	t, known := r.tenants.Get(ev.Tenant)
	if !known {
		return dead(ReasonUnknownTenant, fmt.Sprintf("tenant: %q is not in the tenants file", ev.Tenant))
	}
	if why := t.CurrencyProblem(ev.Tenant, ev); why != "" {
		return dead(ReasonCurrency, tenants.CurrencyField+": "+why)
	}
	return nil
}

// CheckTime returns the reason (ReasonInFuture or ReasonTooLate) and its
// detail when an event's time is out of bounds at now, "" otherwise: more
// than the tolerance ahead, or in no window and no calendar period kept
// (those back to the start of the previous year of the tenant's
// calendar). Purchases and cancellations also count for their customer's
// history while within the largest window plus the tenant's inactivity
// horizon (DESIGN §3, InHistory).
func (r *Rules) CheckTime(ev *events.Event, now time.Time) (reason, detail string) {
	if window.InFuture(ev.OccurredAt, now) {
		return ReasonInFuture, fmt.Sprintf("occurred_at: %s is more than %s ahead of %s",
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
	return ReasonTooLate, fmt.Sprintf("occurred_at: %s is older than the largest window (%s) and before %s (%s), the start of the previous year, the oldest calendar period kept, at %s",
		ev.OccurredAt.Format(time.RFC3339Nano), r.largest.Name, sys.Calendar.Date(from), sys.Loc, now.UTC().Format(time.RFC3339))
}

// InHistory reports whether a purchase or cancellation of tenant at is
// within the customer-state horizon at now: the largest window plus the
// tenant's inactivity horizon. Older ones count in calendar periods only.
func (r *Rules) InHistory(tenant string, at, now time.Time) bool {
	t, _ := r.tenants.Get(tenant)
	return !r.largest.TooLate(at, now.Add(-t.ChurnInactivity))
}

// Revision returns the detail of a revision conflict when ev, a higher
// revision of event id whose current version has type typ and customer,
// may not replace it: it changes the type or the customer, or its own
// time is out of bounds (timeDetail, from CheckTime). "" means it replaces
// the current version.
func Revision(id, typ, customer string, ev *events.Event, timeDetail string) string {
	switch {
	case string(ev.Type) != typ:
		return fmt.Sprintf("revision %d of %s changes type from %s to %s", ev.Revision, id, typ, ev.Type)
	case ev.CustomerID != customer:
		return fmt.Sprintf("revision %d of %s changes customer_id from %q to %q", ev.Revision, id, customer, ev.CustomerID)
	case timeDetail != "":
		return fmt.Sprintf("revision %d of %s: %s", ev.Revision, id, timeDetail)
	}
	return ""
}
