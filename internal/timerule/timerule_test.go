package timerule

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// TestCheck: the bounds of an event's time at 2026-11-22 12:00 UTC, worked
// out by hand from the contract: at most 5 minutes ahead; back to the
// start of the previous year of the tenant's calendar in its zone (1
// January 2025 in UTC; 1 Farvardin 1404, 2025-03-21 00:00 in Tehran, for
// a Persian tenant); purchases also as far as the largest window (90d)
// plus the tenant's inactivity horizon (700 days for "loyal": 790 days
// back, 2024-09-23, before the previous year).
func TestCheck(t *testing.T) {
	reg, err := tenants.Parse([]byte(`tenants:
  fa: {timezone: Asia/Tehran, calendar: persian}
  loyal: {churn_inactivity: 700d}
`))
	require.NoError(t, err)
	ws, err := window.Parse(window.DefaultSpec)
	require.NoError(t, err)
	rule := New(reg, ws[len(ws)-1])
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		return v
	}
	for _, tc := range []struct {
		name, tenant string
		typ          events.Type
		at           time.Time
		want         string
	}{
		{"now", "acme", events.TypeSurveyResponse, now, ""},
		{"5 minutes ahead", "acme", events.TypeSurveyResponse, now.Add(5 * time.Minute), ""},
		{"a millisecond more", "acme", events.TypeSurveyResponse, now.Add(5*time.Minute + time.Millisecond), InFuture},
		{"the previous year's first instant", "acme", events.TypeSurveyResponse, at("2025-01-01T00:00:00Z"), ""},
		{"the instant before it", "acme", events.TypeSurveyResponse, at("2024-12-31T23:59:59.999Z"), TooLate},
		{"a purchase as old", "acme", events.TypePurchaseCompleted, at("2024-12-31T23:59:59.999Z"), TooLate},
		{"Farvardin 1404 in Tehran", "fa", events.TypeSurveyResponse, at("2025-03-20T20:30:00Z"), ""},
		{"Esfand 1403 in Tehran", "fa", events.TypeSurveyResponse, at("2025-03-20T20:29:59.999Z"), TooLate},
		{"a survey before the year, inactivity 700d", "loyal", events.TypeSurveyResponse, at("2024-12-01T00:00:00Z"), TooLate},
		{"a purchase then: in the customer's history", "loyal", events.TypePurchaseCompleted, at("2024-12-01T00:00:00Z"), ""},
		{"a cancellation then too", "loyal", events.TypeSubscriptionCancelled, at("2024-12-01T00:00:00Z"), ""},
		{"a purchase before 90d + 700d", "loyal", events.TypePurchaseCompleted, now.Add(-(790 + 4) * 24 * time.Hour), TooLate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reason, detail := rule.Check(&events.Event{Tenant: tc.tenant, Type: tc.typ, OccurredAt: tc.at}, now)
			require.Equal(t, tc.want, reason, detail)
			if tc.want != "" {
				require.Contains(t, detail, "occurred_at: ")
			}
		})
	}
}
