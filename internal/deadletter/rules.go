// Package deadletter holds every rule that sends an input message to
// cx.deadletter instead of counting it (docs/events.md): the reason codes, the
// checks that need no stored state, the time bounds, the revision
// conflicts, and the writing of dead letters with the headers consumers
// key on, directly or from a tenant's outbox. Counting the rest is left to
// the pipeline.
package deadletter

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxpulse/cxpulse/internal/router"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/internal/timerule"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// Reason codes, the cxpulse-error header (docs/events.md).
const (
	ReasonMalformed        = "malformed_json"
	ReasonInvalid          = "invalid_event"
	ReasonTooLate          = timerule.TooLate
	ReasonInFuture         = timerule.InFuture
	ReasonRevisionConflict = "revision_conflict"
	ReasonCurrency         = "currency_mismatch"
	ReasonUnknownTenant    = "unknown_tenant"
)

// Reasons lists every reason code.
var Reasons = []string{ReasonMalformed, ReasonInvalid, ReasonTooLate, ReasonInFuture, ReasonRevisionConflict, ReasonCurrency, ReasonUnknownTenant}

// Rules decides which messages are dead letters.
type Rules struct {
	tenants *tenants.Registry
	topicOf map[events.Type]string
	time    *timerule.Rule
}

// NewRules returns the rules for input topics under prefix, the tenants
// of reg (nil: every tenant, with the defaults) and windows whose largest
// is largest.
func NewRules(reg *tenants.Registry, prefix string, largest window.Window) *Rules {
	r := &Rules{tenants: reg, topicOf: map[events.Type]string{}, time: timerule.New(reg, largest)}
	for _, t := range events.Types {
		r.topicOf[t] = t.Topic(prefix)
	}
	return r
}

// Letter returns the dead letter of m with a reason code and its detail.
func Letter(m *kafka.Message, reason, detail string) store.Letter {
	l := store.Letter{Key: m.Key, Value: m.Value, Reason: reason, Detail: detail, Source: Source(m)}
	for _, h := range m.Headers {
		if h.Key == HeaderReplayOf {
			l.ReplayOf = string(h.Value)
		}
	}
	return l
}

// HeaderReplayOf marks a message a replay re-produced from a dead letter:
// the dead letter's cxpulse-source. A dead letter of such a message carries
// it on.
const HeaderReplayOf = "cxpulse-replay-of"

// Source names a message for the cxpulse-source header:
// topic/partition/offset, of the input topic it was produced to (Origin).
func Source(m *kafka.Message) string {
	topic, partition, offset := Origin(m)
	return fmt.Sprintf("%s/%d/%d", topic, partition, offset)
}

// Origin is where a message was produced to: its own position, or for a
// record the router forwarded to the tenant-keyed topic, the input
// position its headers name (internal/router).
func Origin(m *kafka.Message) (topic string, partition int, offset int64) {
	if strings.HasSuffix(m.Topic, router.Topic("")) {
		if t, p, o, ok := router.SourceOf(*m); ok {
			return t, p, o
		}
	}
	return m.Topic, m.Partition, m.Offset
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
	if want, topic := r.topicOf[ev.Type], originTopic(m); want != topic {
		return dead(ReasonInvalid, fmt.Sprintf("type: %s belongs on %s, not %s", ev.Type, want, topic))
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
// detail when an event's time is out of bounds at now, "" otherwise (see
// timerule.Rule.Check).
func (r *Rules) CheckTime(ev *events.Event, now time.Time) (reason, detail string) {
	return r.time.Check(ev, now)
}

// OldestKept returns the oldest instant any tenant still counts an event
// at (see timerule.Rule.OldestKept).
func (r *Rules) OldestKept(now time.Time) time.Time { return r.time.OldestKept(now) }

// InHistory reports whether a purchase or cancellation of tenant at is
// within the customer-state horizon at now (see timerule.Rule.InHistory).
func (r *Rules) InHistory(tenant string, at, now time.Time) bool {
	return r.time.InHistory(tenant, at, now)
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

func originTopic(m *kafka.Message) string {
	topic, _, _ := Origin(m)
	return topic
}
