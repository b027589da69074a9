package pipeline

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/deadletter"
	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// TestClassify: what one fetched message becomes before any stored state
// is read: a dead letter with its reason, or an item, with the theme
// terms of a detractor's comment.
func TestClassify(t *testing.T) {
	reg, err := tenants.Parse([]byte("tenants:\n  acme: {currency: EUR}\n"))
	require.NoError(t, err)
	ws, err := window.Parse(window.DefaultSpec)
	require.NoError(t, err)
	p := &Pipeline{rules: deadletter.NewRules(reg, "cx.", ws[len(ws)-1]), metrics: newMetrics(prometheus.NewRegistry())}
	answer := func(tenant string, score int, comment string) []byte {
		return []byte(`{"id":"r-1","type":"survey.response","tenant":"` + tenant + `","occurred_at":"2026-11-22T11:00:00Z",` +
			`"survey":{"metric":"nps","score":` + string(rune('0'+score)) + `,"comment":"` + comment + `"}}`)
	}
	for _, tc := range []struct {
		name    string
		msg     kafka.Message
		reason  string   // of the dead letter, "" for an item
		terms   []string // of the item
		unknown bool
	}{
		{name: "a detractor's comment", msg: kafka.Message{Topic: "cx.surveys", Value: answer("acme", 3, "late refund, late again")},
			terms: []string{"late", "refund"}}, // a word once per comment, "again" a stop word
		{name: "a promoter's comment has terms too (the rest of the respondents in themes)", msg: kafka.Message{Topic: "cx.surveys", Value: answer("acme", 9, "late refund")},
			terms: []string{"late", "refund"}},
		{name: "not JSON", msg: kafka.Message{Topic: "cx.surveys", Value: []byte(`{"id":`)}, reason: deadletter.ReasonMalformed},
		{name: "invalid", msg: kafka.Message{Topic: "cx.surveys", Value: []byte(`{"id":"r","type":"survey.response","tenant":"acme"}`)},
			reason: deadletter.ReasonInvalid},
		{name: "on another type's topic", msg: kafka.Message{Topic: "cx.tickets", Value: answer("acme", 3, "")}, reason: deadletter.ReasonInvalid},
		{name: "a tenant not in the tenants file", msg: kafka.Message{Topic: "cx.surveys", Value: answer("globex", 3, "")},
			reason: deadletter.ReasonUnknownTenant},
		{name: "another currency", msg: kafka.Message{Topic: "cx.purchases", Value: []byte(`{"id":"p","type":"purchase.completed","tenant":"acme",` +
			`"occurred_at":"2026-11-22T11:00:00Z","customer_id":"c","purchase":{"order_id":"o","amount":5,"currency":"USD"}}`)},
			reason: deadletter.ReasonCurrency},
		{name: "a CloudEvent in binary mode", msg: kafka.Message{Topic: "cx.surveys", Value: []byte(`{"survey":{"metric":"nps","score":2,"comment":"rude staff"}}`),
			Headers: []kafka.Header{{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("ce-1")},
				{Key: "ce_source", Value: []byte("/kiosk")}, {Key: "ce_type", Value: []byte("com.cxpulse.survey.response")},
				{Key: "ce_cxpulsetenant", Value: []byte("acme")}, {Key: "ce_time", Value: []byte("2026-11-22T11:00:00Z")},
				{Key: "content-type", Value: []byte("application/json")}}},
			terms: []string{"rude", "staff"}},
		{name: "a broken CloudEvent", msg: kafka.Message{Topic: "cx.surveys", Value: []byte(`{}`),
			Headers: []kafka.Header{{Key: "ce_specversion", Value: []byte("1.0")}}}, reason: deadletter.ReasonInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var it item
			letter := p.classify(events.NewDecoder(events.Tolerant), &tc.msg, &it)
			if tc.reason != "" {
				require.NotNil(t, letter)
				require.Equal(t, tc.reason, letter.Reason, letter.Detail)
				return
			}
			require.Nil(t, letter, "%+v", letter)
			require.Equal(t, "acme", it.Event.Tenant)
			require.Equal(t, &tc.msg, it.Msg)
			require.Equal(t, tc.terms, it.Terms)
		})
	}
}
