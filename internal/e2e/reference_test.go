package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
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
// says, each judged at now, and returns the final version of every
// counted id, per tenant, and the reason each message that must be
// dead-lettered gets, by index.
func reference(msgs []msg, now time.Time) (final map[string]map[string]*events.Event, bad map[int]string) {
	return referenceAt(msgs, func(int) time.Time { return now })
}

// erasureMark is an erasure of customer of tenant at the instant at.
type erasureMark struct {
	tenant, customer string
	at               time.Time
}

// referenceAt is reference with message i judged at nowOf(i), the
// instant it is applied at, and erasures among the messages (docs/privacy.md):
// an erasure removes every counted event of its customer and covers up to
// its instant, or the latest of those events when later; a later event of
// the customer that occurred up to then is dropped without a dead letter.
func referenceAt(msgs []msg, nowOf func(int) time.Time) (final map[string]map[string]*events.Event, bad map[int]string) {
	final, bad = map[string]map[string]*events.Event{}, map[int]string{}
	covers := map[[2]string]time.Time{}
	for i, m := range msgs {
		if e := m.erase; e != nil {
			until := e.at
			for id, ev := range final[e.tenant] {
				if ev.CustomerID == e.customer {
					delete(final[e.tenant], id)
					if ev.OccurredAt.After(until) {
						until = ev.OccurredAt
					}
				}
			}
			if prev, ok := covers[[2]string{e.tenant, e.customer}]; !ok || until.After(prev) {
				covers[[2]string{e.tenant, e.customer}] = until
			}
			continue
		}
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
		if until, ok := covers[[2]string{ev.Tenant, ev.CustomerID}]; ok && ev.CustomerID != "" && !ev.OccurredAt.After(until) {
			continue
		}
		byID := final[ev.Tenant]
		if byID == nil {
			byID = map[string]*events.Event{}
			final[ev.Tenant] = byID
		}
		if reason, counts := refJudge(ev, byID[ev.ID], nowOf(i)); reason != "" {
			bad[i] = reason
		} else if counts {
			byID[ev.ID] = ev
		}
	}
	return final, bad
}

// refJudge decides a valid event against the counted version of its id
// (nil for none) at now: the reason it is dead-lettered, or whether it
// counts (false for a repeat).
func refJudge(ev, cur *events.Event, now time.Time) (reason string, counts bool) {
	history := ev.Type == events.TypePurchaseCompleted || ev.Type == events.TypeSubscriptionCancelled
	var extra time.Duration
	if history {
		extra = inactivityOf(ev.Tenant) // customer history reaches further back
	}
	// Older than every window (and than the customer-state horizon, for
	// what shapes a history) still counts in the calendar periods back to
	// the start of the previous year.
	outside := refTooLate(ev.OccurredAt, now, extra)
	future := ev.OccurredAt.Sub(now) > 5*time.Minute
	late := outside && ev.OccurredAt.Before(refRetainedFrom(now))
	switch {
	case cur != nil && ev.Revision <= cur.Revision:
		return "", false
	case cur != nil && (ev.Type != cur.Type || ev.CustomerID != cur.CustomerID):
		return refConflict, false
	case cur != nil && (future || late):
		return refConflict, false // a higher revision that is itself too late or ahead
	case future:
		return refInFuture, false
	case late:
		return refTooLateR, false
	case cur != nil && history && !refPeriodsOnly[cur] && outside:
		return refConflict, false // a revision may not take a purchase out of its customer's history
	}
	if history && outside {
		refPeriodsOnly[ev] = true
	}
	return "", true
}

var refTenant = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// refProblem names the first rule of the event contract ev breaks, "" for
// none: the rules the tests' events can break, checked here rather than by
// the product's validator.
func refProblem(ev *events.Event) string {
	text := func(s string) bool { n := utf8.RuneCountInString(s); return n >= 1 && n <= 128 }
	// Exactly the payload of the event's type is present.
	payloads := map[string]bool{"survey": ev.Survey != nil, "ticket": ev.Ticket != nil, "purchase": ev.Purchase != nil, "referral": ev.Referral != nil}
	want := map[events.Type]string{events.TypeSurveyResponse: "survey", events.TypeTicketOpened: "ticket", events.TypeTicketResolved: "ticket",
		events.TypeTicketReopened: "ticket", events.TypePurchaseCompleted: "purchase", events.TypePurchaseRefunded: "purchase",
		events.TypeReferralSent: "referral"}[ev.Type]
	for name, present := range payloads {
		if present != (name == want) {
			return name
		}
	}
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
	// Until as many are there (or a minute passed: the difference says
	// which are missing).
	got := deadLetterSources(t, broker)
	for deadline := time.Now().Add(time.Minute); len(got) < len(want) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		got = deadLetterSources(t, broker)
	}
	hist := map[string]int{}
	for _, r := range got {
		hist[r]++
	}
	t.Logf("dead letters by reason: %v", hist)
	var wrong []string
	for src, reason := range want {
		if got[src] != reason {
			wrong = append(wrong, fmt.Sprintf("%s: %q, want %q", src, got[src], reason))
		}
	}
	for src, reason := range got {
		if _, ok := want[src]; !ok {
			wrong = append(wrong, fmt.Sprintf("%s: %q, want none", src, reason))
		}
	}
	sort.Strings(wrong)
	require.Empty(t, wrong, "every dead letter, by source, with its reason (%d expected)", len(want))
}
