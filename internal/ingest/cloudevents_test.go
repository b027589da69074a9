package ingest_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
)

func cloudEvent(id string, score int) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/shop/web","type":"com.cxpulse.survey.response",
		"time":"2026-12-03T10:00:00Z","cxpulsetenant":"acme","data":{"survey":{"metric":"nps","score":%d}}}`, id, score)
}

// TestCloudEventsIn: ingest takes CloudEvents in structured mode (one, or a
// batch) and in binary mode (ce-* headers), writes the events they carry
// to their topics with the source in attrs, and names the CloudEvents
// attribute of every fault.
func TestCloudEventsIn(t *testing.T) {
	e := start(t, nil)
	a := e.post(t, acmeWriter, "application/cloudevents+json", []byte(cloudEvent("ce-1", 9)))
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
	a = e.post(t, acmeWriter, "application/cloudevents-batch+json", []byte("["+cloudEvent("ce-2", 3)+","+cloudEvent("ce-3", 7)+"]"))
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
	require.JSONEq(t, `{"accepted":2}`, string(a.body))

	req, err := http.NewRequest(http.MethodPost, e.url+"/v1/events", bytes.NewReader([]byte(`{"ticket":{"ticket_id":"T-9"}}`)))
	require.NoError(t, err)
	for k, v := range map[string]string{"Authorization": "Bearer " + acmeWriter, "Content-Type": "application/json", "ce-specversion": "1.0",
		"ce-id": "ce-4", "ce-source": "/desk", "ce-type": "com.cxpulse.ticket.opened", "ce-time": "2026-12-03T10:00:00Z", "ce-cxpulsetenant": "acme"} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", body)

	scores := map[string]int{}
	for _, rec := range testenv.Consume(t, e.kafka, "cx.surveys", 3) {
		ev, unknown, err := events.NewDecoder(events.Strict).Decode(rec.Value)
		require.NoError(t, err)
		require.Empty(t, unknown)
		require.Equal(t, "acme/"+ev.ID, string(rec.Key))
		require.Equal(t, "/shop/web", ev.Attrs["source"])
		scores[ev.ID] = ev.Survey.Score
	}
	require.Equal(t, map[string]int{"ce-1": 9, "ce-2": 3, "ce-3": 7}, scores)
	tickets := testenv.Consume(t, e.kafka, "cx.tickets", 1)
	ev, _, err := events.NewDecoder(events.Strict).Decode(tickets[0].Value)
	require.NoError(t, err)
	require.Equal(t, "ce-4", ev.ID)
	require.Equal(t, events.TypeTicketOpened, ev.Type)

	for _, tc := range []struct {
		name, contentType, body string
		fields                  []string
	}{
		{"no time", "application/cloudevents+json", `{"specversion":"1.0","id":"x","source":"s","type":"com.cxpulse.survey.response",
			"cxpulsetenant":"acme","data":{"survey":{"metric":"nps","score":9}}}`, []string{"time"}},
		{"a score out of range", "application/cloudevents+json", cloudEvent("ce-5", 11), []string{"data.survey.score"}},
		{"a bad tenant name", "application/cloudevents+json", `{"specversion":"1.0","id":"x","source":"s","type":"com.cxpulse.survey.response",
			"time":"2026-12-03T10:00:00Z","cxpulsetenant":"Acme!","data":{"survey":{"metric":"nps","score":9}}}`, []string{"cxpulsetenant"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.post(t, acmeWriter, tc.contentType, []byte(tc.body))
			require.Equal(t, http.StatusBadRequest, a.status, "%s", a.body)
			var fields []string
			for _, fe := range a.eventErrors(t) {
				fields = append(fields, fe.Field)
			}
			require.Subset(t, fields, tc.fields, "%s", a.body)
		})
	}
}
