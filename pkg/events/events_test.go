package events_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/pkg/events"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func testdata(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

func name(path string) string { return strings.TrimSuffix(filepath.Base(path), ".json") }

func TestDecodeGood(t *testing.T) {
	// Topic and key of every good payload, worked out from docs/events.md.
	want := map[string]struct{ topic, key string }{
		"survey_nps":                     {"cx.surveys", "acme/c-1001"},
		"survey_csat":                    {"cx.surveys", "acme/r-1002"},
		"survey_ces_comment_cjk":         {"cx.surveys", "acme/c-77"},
		"survey_nps_zero_integral_float": {"cx.surveys", "acme-eu_2/r-1004"},
		"ticket_opened":                  {"cx.tickets", "acme/c-1001"},
		"ticket_resolved":                {"cx.tickets", "acme/t-2"},
		"ticket_reopened":                {"cx.tickets", "acme/t-3"},
		"purchase_completed":             {"cx.purchases", "acme/c-1001"},
		"purchase_refunded":              {"cx.purchases", "acme/c-1001"},
		"subscription_cancelled":         {"cx.purchases", "acme/c-1001"},
		"referral_sent":                  {"cx.purchases", "acme/c-1001"},
	}
	files := testdata(t, "good")
	require.Len(t, files, len(want))
	for _, f := range files {
		t.Run(name(f), func(t *testing.T) {
			for _, mode := range []events.Mode{events.Strict, events.Tolerant} {
				ev, unknown, err := events.NewDecoder(mode).Decode(readFile(t, f))
				require.NoError(t, err)
				require.Empty(t, unknown)
				w, ok := want[name(f)]
				require.True(t, ok, "no expectation for %s", name(f))
				require.Equal(t, w.topic, ev.Topic(events.DefaultTopicPrefix))
				require.Equal(t, w.key, ev.Key())
				require.NoError(t, ev.Validate())
			}
		})
	}
}

func TestDecodeFields(t *testing.T) {
	ev, _, err := events.NewDecoder(events.Strict).Decode(readFile(t, "testdata/good/ticket_resolved.json"))
	require.NoError(t, err)
	require.Equal(t, events.TypeTicketResolved, ev.Type)
	require.Equal(t, time.Date(2026, 11, 20, 14, 3, 7, 0, time.UTC), ev.OccurredAt.UTC())
	require.Equal(t, "T-500", ev.Ticket.TicketID)
	require.Equal(t, 95.0, *ev.Ticket.FirstResponseSeconds)
	require.Equal(t, 1800.5, *ev.Ticket.HandleSeconds)

	ev, _, err = events.NewDecoder(events.Strict).Decode(readFile(t, "testdata/good/survey_ces_comment_cjk.json"))
	require.NoError(t, err)
	require.Equal(t, int64(2), ev.Revision)
	require.Equal(t, "返金がとても簡単でした", ev.Survey.Comment)
	require.Equal(t, map[string]string{"app_version": "5.1.0", "locale": "ja-JP"}, ev.Attrs)

	ev, _, err = events.NewDecoder(events.Strict).Decode(readFile(t, "testdata/good/survey_csat.json"))
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 11, 20, 14, 3, 7, 250e6, time.UTC), ev.OccurredAt.UTC())
}

func TestDecodeBad(t *testing.T) {
	for _, f := range testdata(t, "bad") {
		t.Run(name(f), func(t *testing.T) {
			want := strings.Split(strings.TrimSpace(string(readFile(t, strings.TrimSuffix(f, ".json")+".err"))), "\n")
			_, _, err := events.NewDecoder(events.Strict).Decode(readFile(t, f))
			var verr *events.ValidationError
			require.ErrorAs(t, err, &verr)
			got := make([]string, len(verr.Problems))
			for i, p := range verr.Problems {
				got[i] = p.String()
			}
			require.Equal(t, want, got)
		})
	}
}

func TestTolerantReportsUnknownFields(t *testing.T) {
	in := `{"id":"r-1","type":"survey.response","tenant":"acme","occurred_at":"2026-11-20T14:03:07Z",
		"channel_v2":"web","survey":{"metric":"nps","score":10,"lang":"de"}}`
	ev, unknown, err := events.NewDecoder(events.Tolerant).Decode([]byte(in))
	require.NoError(t, err)
	require.Equal(t, []string{"channel_v2", "survey.lang"}, unknown)
	require.Equal(t, 10, ev.Survey.Score)

	_, _, err = events.NewDecoder(events.Strict).Decode([]byte(in))
	require.EqualError(t, err, "channel_v2: unknown field; survey.lang: unknown field")
}

func TestDecodeMalformed(t *testing.T) {
	for _, in := range []string{``, `{"id":`, `{"id":"x"} trailing`, `nul`} {
		_, _, err := events.NewDecoder(events.Tolerant).Decode([]byte(in))
		require.ErrorIs(t, err, events.ErrMalformed, "input %q", in)
	}
}

// TestRoundTrip checks that what encoding/json writes for a decoded event
// decodes strictly to the same event, so re-encoding loses nothing.
func TestRoundTrip(t *testing.T) {
	for _, f := range testdata(t, "good") {
		t.Run(name(f), func(t *testing.T) {
			d := events.NewDecoder(events.Strict)
			ev, _, err := d.Decode(readFile(t, f))
			require.NoError(t, err)
			b, err := json.Marshal(ev)
			require.NoError(t, err)
			again, _, err := d.Decode(b)
			require.NoError(t, err)
			require.True(t, ev.OccurredAt.Equal(again.OccurredAt))
			again.OccurredAt = ev.OccurredAt
			require.Equal(t, ev, again)
		})
	}
}

func TestValidateBuiltEvent(t *testing.T) {
	ev := events.Event{
		ID: "ref-9", Type: events.TypeReferralSent, Tenant: "acme", OccurredAt: time.Now(),
		CustomerID: "c-1", Referral: &events.Referral{Code: "A", ReferrerID: "c-2"},
		Dims: map[string]string{"zone": "ok", "Bad": "x", "area": "a=b"},
	}
	err := ev.Validate()
	var verr *events.ValidationError
	require.True(t, errors.As(err, &verr))
	require.Equal(t, []events.Problem{
		{Field: "dims.Bad", Reason: "key must match [a-z][a-z0-9_]{0,31}"},
		{Field: "dims.area", Reason: `"a=b" may only hold letters, digits, spaces, punctuation and symbols, in NFC, without control characters or = , + { }`},
		{Field: "referral.referrer_id", Reason: `"c-2" must equal customer_id "c-1"`},
	}, verr.Problems)
}

func TestTypeTopics(t *testing.T) {
	for _, tc := range []struct {
		typ   events.Type
		topic string
	}{
		{events.TypeSurveyResponse, "eu.surveys"},
		{events.TypeTicketOpened, "eu.tickets"},
		{events.TypeTicketResolved, "eu.tickets"},
		{events.TypeTicketReopened, "eu.tickets"},
		{events.TypePurchaseCompleted, "eu.purchases"},
		{events.TypePurchaseRefunded, "eu.purchases"},
		{events.TypeSubscriptionCancelled, "eu.purchases"},
		{events.TypeReferralSent, "eu.purchases"},
		{"survey.other", ""},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			require.Equal(t, tc.topic, tc.typ.Topic("eu."))
		})
	}
}

// TestDimValuesOfRealExports: store and product names as exports write
// them are dims values, in NFC; the scope syntax and control characters
// are not.
func TestDimValuesOfRealExports(t *testing.T) {
	ev := func(v string) *events.Event {
		return &events.Event{ID: "r-1", Type: events.TypeSurveyResponse, Tenant: "acme", OccurredAt: time.Now(),
			Survey: &events.Survey{Metric: events.MetricNPS, Score: 9}, Dims: map[string]string{"store": v}}
	}
	for _, v := range []string{"Piața Unirii", "تهران مرکز", "می\u200cخواهم", "上海 静安", "Trinidad & Tobago", `Bob's "Best" Shop (No. 2)`, "s1", "café #3 – 50%"} {
		require.NoError(t, ev(v).Validate(), v)
	}
	for _, v := range []string{"a,b", "a=b", "a+b", "{a}", "tab\there", "nul\x00", "new\nline", "Pia" + "t\u0326" + "a"} {
		require.Error(t, ev(v).Validate(), "%q", v)
	}
	// Decoding normalises: a decomposed ț is stored composed.
	b := []byte(`{"id":"r-1","type":"survey.response","tenant":"acme","occurred_at":"2026-11-20T14:03:07Z","survey":{"metric":"nps","score":8},"dims":{"store":"Pia` + "t\u0326" + `a Unirii"}}`)
	got, _, err := events.NewDecoder(events.Strict).Decode(b)
	require.NoError(t, err)
	require.Equal(t, "Piața Unirii", got.Dims["store"])
}
