package api

import (
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/periodbuckets"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// TestHubKeepsTenantsApart: a relayed score snapshot or alert reaches the
// subscribers of its own tenant only (the key's tenant; an alert's
// tenant label), and a subscriber that does not read loses events rather
// than blocking the others.
func TestHubKeepsTenantsApart(t *testing.T) {
	h := newHub()
	acme, stopAcme := h.subscribe("acme")
	defer stopAcme()
	globex, stopGlobex := h.subscribe("globex")
	defer stopGlobex()
	h.dispatch(&kafka.Message{Topic: "cx.scores", Key: []byte("acme/store=s1"), Value: []byte(`{"seq":1}`)}, "cx.scores")
	h.dispatch(&kafka.Message{Topic: "cx.alerts", Key: []byte("f00d"), Value: []byte(`{"labels":{"tenant":"globex"}}`)}, "cx.scores")
	h.dispatch(&kafka.Message{Topic: "cx.alerts", Key: []byte("bad"), Value: []byte(`not json`)}, "cx.scores")
	require.Equal(t, streamEvent{name: "scores", data: []byte(`{"seq":1}`)}, <-acme)
	require.Equal(t, streamEvent{name: "alert", data: []byte(`{"labels":{"tenant":"globex"}}`)}, <-globex)
	require.Empty(t, acme)
	require.Empty(t, globex)

	for range subscriberBuffer + 10 { // nobody reads acme's
		h.publish("acme", streamEvent{name: "scores"})
	}
	require.Len(t, acme, subscriberBuffer)
	h.publish("globex", streamEvent{name: "scores"})
	require.Len(t, globex, 1, "another tenant is not held up")
	stopAcme()
	h.publish("acme", streamEvent{name: "scores"}) // no subscriber: nothing blocks
}

func TestScopeDims(t *testing.T) {
	for scope, want := range map[string]string{"all": "", "store=s1": "store", "channel=web,region=eu": "channel+region"} {
		require.Equal(t, want, scopeDims(scope), scope)
	}
}

// TestCompareSpan: on 22 November 2026 at 12:30 UTC, the month under way
// is compared with October up to 22 October 12:00 (hours are kept two
// months back), and with November 2025 up to 22 November 2025 by the day
// (hours are not kept that far); a closed month with the whole month
// before.
func TestCompareSpan(t *testing.T) {
	sys := period.UTC
	now := time.Date(2026, 11, 22, 12, 30, 0, 0, time.UTC)
	day := func(y int, m time.Month, d int) int64 { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400 }
	nov := sys.Containing(period.Month, sys.Day(now))
	for _, tc := range []struct {
		name     string
		p        period.Period
		how      string
		underWay bool
		span     periodbuckets.Span
		cmp      string
		from, to time.Time
	}{
		{"the month under way, previous", nov, "previous", true, periodbuckets.Span{From: day(2026, 10, 1), To: day(2026, 10, 22), Hours: 12},
			"month:2026-10", time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 10, 22, 12, 0, 0, 0, time.UTC)},
		{"the month under way, a year ago", nov, "year_ago", true, periodbuckets.Span{From: day(2025, 11, 1), To: day(2025, 11, 22)},
			"month:2025-11", time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 11, 22, 0, 0, 0, 0, time.UTC)},
		{"a closed month", sys.Containing(period.Month, day(2026, 9, 10)), "previous", false,
			periodbuckets.SpanOf(sys.Containing(period.Month, day(2026, 8, 1))), "month:2026-08",
			time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			span, name, from, to := compareSpan(sys, tc.p, tc.how, tc.underWay, now)
			require.Equal(t, tc.span, span)
			require.Equal(t, tc.cmp, name)
			require.True(t, from.Equal(tc.from), "from %s", from)
			require.True(t, to.Equal(tc.to), "to %s", to)
		})
	}
}
