package ingest_test

import (
	"bytes"
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
)

func kcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	bin := testenv.Tool(t, "kcat")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-X", "broker.address.family=v4"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Run(), "kcat %v: %s", args, errb.String())
	return out.String()
}

// TestKcatConsumesWhatIngestWrote: librdkafka, a client nobody here wrote,
// reads the keys and values ingest produced.
func TestKcatConsumesWhatIngestWrote(t *testing.T) {
	e := start(t, nil)
	body := "[" + surveyJSON("kc-1", "acme", 10) + "," + surveyJSON("kc-2", "acme", 2) + "]"
	a := e.post(t, acmeWriter, "application/json", []byte(body))
	require.Equal(t, http.StatusAccepted, a.status, string(a.body))

	out := kcat(t, "", "-C", "-b", e.kafka, "-t", "cx.surveys", "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n")
	got := map[string]int{}
	for line := range strings.Lines(strings.TrimSpace(out)) {
		key, value, ok := strings.Cut(strings.TrimRight(line, "\n"), "\t")
		require.True(t, ok, "line %q", line)
		ev, _, err := events.NewDecoder(events.Strict).Decode([]byte(value))
		require.NoError(t, err)
		require.Equal(t, "acme/"+ev.ID, key)
		got[ev.ID] = ev.Survey.Score
	}
	require.Equal(t, map[string]int{"kc-1": 10, "kc-2": 2}, got)
}

// TestEventsDecodeWhatKcatProduced: a message produced by kcat decodes
// with pkg/events, key and all.
func TestEventsDecodeWhatKcatProduced(t *testing.T) {
	_, addr := testenv.Kafka(t, 2, topics...)
	value := `{"id":"kp-1","type":"ticket.resolved","tenant":"acme","occurred_at":"2026-11-21T08:30:00+01:00","ticket":{"ticket_id":"T-9","first_response_seconds":42,"handle_seconds":600},"x_new_field":true}`
	kcat(t, "acme/kp-1\t"+value+"\n", "-P", "-b", addr, "-t", "cx.tickets", "-K", "\t")

	recs := testenv.Consume(t, addr, "cx.tickets", 1)
	require.Len(t, recs, 1)
	require.Equal(t, "acme/kp-1", string(recs[0].Key))
	ev, unknown, err := events.NewDecoder(events.Tolerant).Decode(recs[0].Value)
	require.NoError(t, err)
	require.Equal(t, []string{"x_new_field"}, unknown)
	require.Equal(t, events.TypeTicketResolved, ev.Type)
	require.Equal(t, time.Date(2026, 11, 21, 7, 30, 0, 0, time.UTC), ev.OccurredAt.UTC())
	require.Equal(t, 42.0, *ev.Ticket.FirstResponseSeconds)
	require.Equal(t, ev.Key(), string(recs[0].Key))
}
