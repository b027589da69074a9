package aggregate_test

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/pkg/events"
)

// The dead-letter reasons of the event contract, as the reference names
// them (written out here, not taken from the product).
const (
	refMalformed = "malformed_json"
	refInvalid   = "invalid_event"
	refTooLateR  = "too_late"
	refInFuture  = "in_future"
	refConflict  = "revision_conflict"
)

// reference replays the messages as the event contract (docs/events.md)
// says and returns the final version of every counted id, per tenant, and
// the reason each message that must be dead-lettered gets, by index.
func reference(msgs []msg, now time.Time) (final map[string]map[string]*events.Event, bad map[int]string) {
	final, bad = map[string]map[string]*events.Event{}, map[int]string{}
	for i, m := range msgs {
		if m.ev == nil {
			bad[i] = refMalformed
			if json.Valid(m.value) {
				bad[i] = refInvalid
			}
			continue
		}
		ev := m.ev
		if refProblem(ev) != "" {
			bad[i] = refInvalid
			continue
		}
		byID := final[ev.Tenant]
		if byID == nil {
			byID = map[string]*events.Event{}
			final[ev.Tenant] = byID
		}
		cur := byID[ev.ID]
		history := ev.Type == events.TypePurchaseCompleted || ev.Type == events.TypeSubscriptionCancelled
		var extra time.Duration
		if history {
			extra = inactivityOf(ev.Tenant) // customer history reaches further back
		}
		// Older than every window (and than the customer-state horizon,
		// for what shapes a history) still counts in the calendar periods
		// back to the start of the previous year.
		outside := refTooLate(ev.OccurredAt, now, extra)
		future := ev.OccurredAt.Sub(now) > 5*time.Minute
		late := outside && ev.OccurredAt.Before(refRetainedFrom(now))
		switch {
		case cur != nil && ev.Revision <= cur.Revision:
		case cur != nil && (ev.Type != cur.Type || ev.CustomerID != cur.CustomerID):
			bad[i] = refConflict
		case cur != nil && (future || late):
			bad[i] = refConflict // a higher revision that is itself too late or ahead
		case future:
			bad[i] = refInFuture
		case late:
			bad[i] = refTooLateR
		case cur != nil && history && !refPeriodsOnly[cur] && outside:
			bad[i] = refConflict // a revision may not take a purchase out of its customer's history
		default:
			byID[ev.ID] = ev
			if history && outside {
				refPeriodsOnly[ev] = true
			}
		}
	}
	return final, bad
}

var refTenant = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// refProblem names the first rule of the event contract ev breaks, "" for
// none: the rules the tests' events can break, checked here rather than by
// the product's validator.
func refProblem(ev *events.Event) string {
	text := func(s string) bool { n := utf8.RuneCountInString(s); return n >= 1 && n <= 128 }
	switch {
	case !text(ev.ID):
		return "id"
	case !refTenant.MatchString(ev.Tenant):
		return "tenant"
	case ev.OccurredAt.IsZero():
		return "occurred_at"
	case ev.Revision < 0:
		return "revision"
	}
	switch ev.Type {
	case events.TypeSurveyResponse:
		s := ev.Survey
		if s == nil {
			return "survey"
		}
		r, ok := map[events.Metric][2]int{"nps": {0, 10}, "csat": {1, 5}, "ces": {1, 7}}[s.Metric]
		if !ok || s.Score < r[0] || s.Score > r[1] {
			return "survey.score"
		}
	case events.TypeTicketOpened, events.TypeTicketResolved, events.TypeTicketReopened:
		if ev.Ticket == nil || !text(ev.Ticket.TicketID) {
			return "ticket.ticket_id"
		}
	case events.TypePurchaseCompleted, events.TypePurchaseRefunded:
		if ev.Purchase == nil || !text(ev.Purchase.OrderID) || ev.Purchase.Amount < 0 || ev.Purchase.Amount > 1e11 || !text(ev.CustomerID) {
			return "purchase"
		}
	case events.TypeSubscriptionCancelled:
		if !text(ev.CustomerID) {
			return "customer_id"
		}
	case events.TypeReferralSent:
		if ev.Referral == nil || ev.Referral.ReferrerID != ev.CustomerID || !text(ev.CustomerID) {
			return "referral"
		}
	default:
		return "type"
	}
	return ""
}

// wantLetters maps the cxpulse-source of each bad message to its reason.
func wantLetters(bad map[int]string, sources []string) map[string]string {
	out := make(map[string]string, len(bad))
	for i, reason := range bad {
		out[sources[i]] = reason
	}
	return out
}

// checkDeadLetters waits until the dead-letter topic holds as many
// distinct sources as want, then requires exactly want: every source and
// its reason, nothing more.
func checkDeadLetters(t *testing.T, broker string, want map[string]string) {
	t.Helper()
	var got map[string]string
	require.Eventually(t, func() bool {
		got = deadLetterSources(t, broker)
		return len(got) >= len(want)
	}, 60*time.Second, 100*time.Millisecond, "waiting for %d dead letters", len(want))
	if len(want) == 0 {
		got = deadLetterSources(t, broker)
	}
	hist := map[string]int{}
	for _, r := range got {
		hist[r]++
	}
	t.Logf("dead letters by reason: %v", hist)
	require.Equal(t, want, got, "every dead letter, by source, with its reason")
}
