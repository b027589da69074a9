package events

import "time"

// Type names what happened. Each type routes to one topic.
type Type string

// The event types of the contract.
const (
	TypeSurveyResponse        Type = "survey.response"
	TypeTicketOpened          Type = "ticket.opened"
	TypeTicketResolved        Type = "ticket.resolved"
	TypeTicketReopened        Type = "ticket.reopened"
	TypePurchaseCompleted     Type = "purchase.completed"
	TypePurchaseRefunded      Type = "purchase.refunded"
	TypeSubscriptionCancelled Type = "subscription.cancelled"
	TypeReferralSent          Type = "referral.sent"
)

// Types lists every known type in a stable order.
var Types = []Type{
	TypeSurveyResponse,
	TypeTicketOpened, TypeTicketResolved, TypeTicketReopened,
	TypePurchaseCompleted, TypePurchaseRefunded, TypeSubscriptionCancelled, TypeReferralSent,
}

// Topic suffixes, appended to the configured prefix (default "cx.").
const (
	TopicSurveys   = "surveys"
	TopicTickets   = "tickets"
	TopicPurchases = "purchases"
)

// DefaultTopicPrefix is the prefix of every cxpulse topic unless configured.
const DefaultTopicPrefix = "cx."

// Known reports whether t is a type of the contract.
func (t Type) Known() bool { return t.topic() != "" }

func (t Type) topic() string {
	switch t {
	case TypeSurveyResponse:
		return TopicSurveys
	case TypeTicketOpened, TypeTicketResolved, TypeTicketReopened:
		return TopicTickets
	case TypePurchaseCompleted, TypePurchaseRefunded, TypeSubscriptionCancelled, TypeReferralSent:
		return TopicPurchases
	}
	return ""
}

// Topic returns the topic events of type t go to under prefix, or "" for an
// unknown type.
func (t Type) Topic(prefix string) string {
	if s := t.topic(); s != "" {
		return prefix + s
	}
	return ""
}

// needsCustomer reports whether events of type t must carry a customer_id.
func (t Type) needsCustomer() bool {
	switch t {
	case TypePurchaseCompleted, TypePurchaseRefunded, TypeSubscriptionCancelled, TypeReferralSent:
		return true
	}
	return false
}

// Metric is the survey scale of a response.
type Metric string

// Survey metrics and their score ranges: nps 0–10, csat 1–5, ces 1–7
// (7 = very easy).
const (
	MetricNPS  Metric = "nps"
	MetricCSAT Metric = "csat"
	MetricCES  Metric = "ces"
)

// Range returns the inclusive score range of m; ok is false for an unknown
// metric.
func (m Metric) Range() (lo, hi int, ok bool) {
	switch m {
	case MetricNPS:
		return 0, 10, true
	case MetricCSAT:
		return 1, 5, true
	case MetricCES:
		return 1, 7, true
	}
	return 0, 0, false
}

// Event is one customer-experience event. Exactly the payload object that
// belongs to Type is set: Survey for survey.response, Ticket for ticket.*,
// Purchase for purchase.*, Referral for referral.sent, none for
// subscription.cancelled.
type Event struct {
	// ID identifies the event together with Tenant (1–128 characters).
	ID string `json:"id"`
	// Type is one of the Type constants.
	Type Type `json:"type"`
	// Tenant matches [a-z0-9][a-z0-9_-]{0,63}.
	Tenant string `json:"tenant"`
	// OccurredAt is the event time; windows use it, not arrival time.
	OccurredAt time.Time `json:"occurred_at"`
	// Revision orders corrections of the same ID; a higher one replaces the
	// earlier event. Default 0.
	Revision int64 `json:"revision,omitempty"`
	// CustomerID (1–128 characters) is required for purchase.*,
	// subscription.cancelled and referral.sent.
	CustomerID string `json:"customer_id,omitempty"`
	// Dims places the event in scopes such as store=42 (at most 16 entries).
	Dims map[string]string `json:"dims,omitempty"`
	// Attrs is carried along and never aggregated (at most 32 entries).
	Attrs map[string]string `json:"attrs,omitempty"`

	Survey   *Survey   `json:"survey,omitempty"`
	Ticket   *Ticket   `json:"ticket,omitempty"`
	Purchase *Purchase `json:"purchase,omitempty"`
	Referral *Referral `json:"referral,omitempty"`
}

// Survey is the payload of survey.response.
type Survey struct {
	Metric Metric `json:"metric"`
	Score  int    `json:"score"`
	// Comment is optional free text in any language, at most 4000 characters.
	Comment string `json:"comment,omitempty"`
}

// Ticket is the payload of ticket.opened, ticket.resolved and
// ticket.reopened. The durations are only allowed on ticket.resolved.
type Ticket struct {
	TicketID             string   `json:"ticket_id"`
	Category             string   `json:"category,omitempty"`
	FirstResponseSeconds *float64 `json:"first_response_seconds,omitempty"`
	HandleSeconds        *float64 `json:"handle_seconds,omitempty"`
}

// Purchase is the payload of purchase.completed and purchase.refunded.
type Purchase struct {
	OrderID string  `json:"order_id"`
	Amount  float64 `json:"amount"`
	// Currency is an optional ISO 4217 code; it must match the tenant's
	// reporting currency when the tenant has one.
	Currency string `json:"currency,omitempty"`
	// ReferralCode is only allowed on purchase.completed.
	ReferralCode string `json:"referral_code,omitempty"`
	// CustomerSince, only on purchase.completed and at or before
	// occurred_at, says the customer bought first at or before it: a
	// returning customer whose earlier purchases are older than what is
	// kept (a history import) is then never counted as new.
	CustomerSince *time.Time `json:"customer_since,omitempty"`
}

// Referral is the payload of referral.sent.
type Referral struct {
	Code string `json:"code"`
	// ReferrerID must equal the event's CustomerID.
	ReferrerID string `json:"referrer_id"`
}

// Topic returns the topic e is routed to under prefix.
func (e *Event) Topic(prefix string) string { return e.Type.Topic(prefix) }

// Key returns the Kafka message key: "<tenant>/<customer_id>" when the event
// has a customer, else "<tenant>/<id>".
func (e *Event) Key() string {
	if e.CustomerID != "" {
		return e.Tenant + "/" + e.CustomerID
	}
	return e.Tenant + "/" + e.ID
}
