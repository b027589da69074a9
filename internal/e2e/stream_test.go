package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// TestStream reads a tenant's server-sent events while a baseline month
// and a detractor burst arrive: score snapshots of the tenant, the alert,
// and nothing of another tenant.
func TestStream(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 30, 0, time.UTC)
	_, broker := testenv.Kafka(t, 2, allTopics...)
	_, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_EMIT_INTERVAL": "200ms"}, newClock(now))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.base+"/v1/tenants/acme/stream?token=unused", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	type sse struct{ name, data string }
	got := make(chan sse, 1000)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sse
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			case line == "" && ev.name != "":
				got <- ev
				ev = sse{}
			}
		}
		close(got)
	}()
	// The answer began once the relay read from the topics' ends: nothing
	// produced from here on can be missed.

	baseline, spike := spikeData(now)
	other := events.Event{ID: "g-1", Type: events.TypeSurveyResponse, Tenant: "globex", OccurredAt: now,
		Survey: &events.Survey{Metric: events.MetricNPS, Score: 3}}
	produce(t, broker, append(append(baseline, eventMsg(other)), spike...))

	var sawScores, sawAlert bool
	for !sawScores || !sawAlert {
		select {
		case ev, ok := <-got:
			require.True(t, ok, "stream ended")
			switch ev.name {
			case "scores":
				var s scores.Scores
				require.NoError(t, json.Unmarshal([]byte(ev.data), &s))
				require.Equal(t, "acme", s.Tenant)
				require.Positive(t, s.Seq)
				sawScores = true
			case "alert":
				var n alerts.Notification
				require.NoError(t, json.Unmarshal([]byte(ev.data), &n))
				require.Equal(t, "acme", n.Labels["tenant"])
				sawAlert = true
			default:
				t.Fatalf("unexpected event %q", ev.name)
			}
		case <-ctx.Done():
			t.Fatalf("scores %v, alert %v before the deadline", sawScores, sawAlert)
		}
	}
}
