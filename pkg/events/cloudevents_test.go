package events_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/pkg/events"
)

// TestFromCloudEvent maps a structured CloudEvent to the event it carries,
// written out by hand, and names the attribute of every fault.
func TestFromCloudEvent(t *testing.T) {
	got, err := events.FromCloudEvent([]byte(`{"specversion":"1.0","id":"r-1","source":"/shop/web","type":"com.cxpulse.survey.response",
		"time":"2026-12-03T10:00:00Z","cxpulsetenant":"acme","datacontenttype":"application/json",
		"data":{"customer_id":"c-1","dims":{"store":"s1"},"survey":{"metric":"nps","score":9}}}`))
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"r-1","type":"survey.response","tenant":"acme","occurred_at":"2026-12-03T10:00:00Z",
		"customer_id":"c-1","dims":{"store":"s1"},"survey":{"metric":"nps","score":9},"attrs":{"source":"/shop/web"}}`, string(got))
	ev, _, err := events.NewDecoder(events.Strict).Decode(got)
	require.NoError(t, err)
	require.Equal(t, "acme", ev.Tenant)

	for _, tc := range []struct {
		name, in string
		attrs    []string
	}{
		{"no time, another spec", `{"specversion":"0.3","id":"x","source":"s","type":"com.cxpulse.survey.response","cxpulsetenant":"acme","data":{}}`,
			[]string{"specversion", "time"}},
		{"foreign type", `{"specversion":"1.0","id":"x","source":"s","type":"com.example.order","time":"2026-12-03T10:00:00Z","cxpulsetenant":"acme"}`,
			[]string{"type"}},
		{"envelope fields in data", `{"specversion":"1.0","id":"x","source":"s","type":"com.cxpulse.survey.response","time":"2026-12-03T10:00:00Z",
			"cxpulsetenant":"acme","data":{"tenant":"globex","attrs":{"source":"y"}}}`, []string{"data.tenant"}},
		{"no tenant, XML", `{"specversion":"1.0","id":"x","source":"s","type":"com.cxpulse.survey.response","time":"2026-12-03T10:00:00Z",
			"datacontenttype":"application/xml"}`, []string{"cxpulsetenant", "datacontenttype"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := events.FromCloudEvent([]byte(tc.in))
			require.Error(t, err)
			var named []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var ce *events.CloudEventError
				require.True(t, errors.As(e, &ce), "%v", e)
				named = append(named, ce.Attribute)
			}
			require.ElementsMatch(t, tc.attrs, named)
		})
	}
}

// TestFromBinaryCloudEvent reads the attributes of binary-mode headers,
// whatever their case, with the content type as datacontenttype.
func TestFromBinaryCloudEvent(t *testing.T) {
	headers := [][2]string{{"Ce-Specversion", "1.0"}, {"ce-id", "t-9"}, {"CE-SOURCE", "/desk"}, {"ce-type", "com.cxpulse.ticket.opened"},
		{"ce-time", "2026-12-03T10:00:00Z"}, {"ce-cxpulsetenant", "acme"}, {"Content-Type", "application/json"}, {"Authorization", "x"}}
	attrs := events.CloudEventHeaders("ce-", func(yield func(string, string) bool) {
		for _, h := range headers {
			if !yield(h[0], h[1]) {
				return
			}
		}
	})
	require.Equal(t, map[string]string{"specversion": "1.0", "id": "t-9", "source": "/desk", "type": "com.cxpulse.ticket.opened",
		"time": "2026-12-03T10:00:00Z", "cxpulsetenant": "acme", "datacontenttype": "application/json"}, attrs)
	got, err := events.FromBinaryCloudEvent(attrs, []byte(`{"ticket":{"ticket_id":"T-9"}}`))
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"t-9","type":"ticket.opened","tenant":"acme","occurred_at":"2026-12-03T10:00:00Z",
		"ticket":{"ticket_id":"T-9"},"attrs":{"source":"/desk"}}`, string(got))
}
