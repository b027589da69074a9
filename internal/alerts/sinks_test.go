package alerts

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

// receiver records what it is sent and fails the first `fail` requests.
type receiver struct {
	mu     sync.Mutex
	fail   int
	status int
	bodies [][]byte
	paths  []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		w.WriteHeader(r.status)
		return
	}
	r.bodies = append(r.bodies, b)
	r.paths = append(r.paths, req.URL.Path)
	w.WriteHeader(http.StatusOK)
}

func (r *receiver) got() ([][]byte, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...), append([]string(nil), r.paths...)
}

// TestSinks: Alertmanager answers 503 twice, then takes the alerts; the
// webhook is down for good; PagerDuty refuses with 400 (not retried). Each
// sink gets its own outcome.
func TestSinks(t *testing.T) {
	am := &receiver{fail: 2, status: http.StatusServiceUnavailable}
	pd := &receiver{fail: 1, status: http.StatusBadRequest}
	hook := &receiver{}
	amSrv, pdSrv, hookSrv := httptest.NewServer(am), httptest.NewServer(pd), httptest.NewServer(hook)
	defer amSrv.Close()
	defer pdSrv.Close()
	hookSrv.Close() // down
	client := &http.Client{Timeout: time.Second}
	sinks := []Sink{&Alertmanager{URL: amSrv.URL, Client: client},
		&Webhook{URL: hookSrv.URL, ExternalURL: "http://cx", Client: client},
		&PagerDuty{URL: pdSrv.URL, RoutingKey: "rk", Client: client}}
	r := Retry{Backoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Attempts: 4, Timeout: time.Second}
	var mu sync.Mutex
	results := map[string][]bool{}

	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	labels := Labels("acme", "store=s1", Critical)
	n := Notification{Status: Firing, Labels: labels, Annotations: map[string]string{"summary": "spike"},
		StartsAt: start, EndsAt: start.Add(3 * time.Minute), Fingerprint: Fingerprint(labels), GeneratorURL: "http://cx/x"}
	resolved := n
	resolved.Status, resolved.EndsAt = Resolved, start.Add(time.Hour)
	// Each sink is delivered to on its own, the firing notification first.
	gave := map[string][]error{}
	var wg sync.WaitGroup
	for _, s := range sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, ns := range [][]Notification{{n}, {resolved}} {
				err := r.Deliver(context.Background(), zaptest.NewLogger(t), s, ns, func(err error) {
					mu.Lock()
					results[s.Name()] = append(results[s.Name()], err == nil)
					mu.Unlock()
				})
				mu.Lock()
				gave[s.Name()] = append(gave[s.Name()], err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.NoError(t, gave["alertmanager"][0])
	require.Len(t, results["webhook"], 2*4, "the webhook is tried 4 times per batch, then given up")
	require.Error(t, gave["webhook"][1])
	var he *HTTPError
	require.ErrorAs(t, gave["pagerduty"][0], &he, "the 400 is given up at once")

	bodies, paths := am.got()
	require.Equal(t, "/api/v2/alerts", paths[0])
	var posted []map[string]any
	require.NoError(t, json.Unmarshal(bodies[0], &posted))
	require.Len(t, posted, 1)
	require.Equal(t, "critical", posted[0]["labels"].(map[string]any)["severity"])
	require.Equal(t, "2026-11-22T12:03:00Z", posted[0]["endsAt"])
	require.NotContains(t, posted[0], "status", "Alertmanager's postable alert has no status")
	require.NoError(t, json.Unmarshal(bodies[1], &posted))
	require.Equal(t, "2026-11-22T13:00:00Z", posted[0]["endsAt"])

	// PagerDuty: the trigger was refused with 400 and not retried; the
	// resolve went through with the same dedup_key.
	pbodies, _ := pd.got()
	var ev map[string]any
	require.NoError(t, json.Unmarshal(pbodies[0], &ev))
	require.Equal(t, map[string]any{"routing_key": "rk", "dedup_key": n.Fingerprint, "event_action": "resolve"}, ev)
	mu.Lock()
	require.Equal(t, []bool{false, true}, results["pagerduty"])
	require.Equal(t, []bool{false, false, true, true}, results["alertmanager"])
	mu.Unlock()
}

func TestWebhookShape(t *testing.T) {
	hook := &receiver{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	mk := func(scope string, status string) Notification {
		l := Labels("acme", scope, Warning)
		return Notification{Status: status, Labels: l, Annotations: map[string]string{"window": "24h", "scope_note": scope},
			StartsAt: start, EndsAt: start.Add(time.Minute), Fingerprint: Fingerprint(l)}
	}
	s := &Webhook{URL: srv.URL, ExternalURL: "http://cx", Client: http.DefaultClient}
	require.NoError(t, s.Send(context.Background(), []Notification{mk("store=s1", Firing), mk("store=s2", Resolved)}))
	bodies, _ := hook.got()
	var msg WebhookMessage
	require.NoError(t, json.Unmarshal(bodies[0], &msg))
	require.Equal(t, "4", msg.Version)
	require.Equal(t, Firing, msg.Status)
	require.Equal(t, map[string]string{"alertname": AlertName, "tenant": "acme"}, msg.GroupLabels)
	require.Equal(t, map[string]string{"alertname": AlertName, "tenant": "acme", "severity": "warning"}, msg.CommonLabels)
	require.Equal(t, map[string]string{"window": "24h"}, msg.CommonAnnotations)
	require.Len(t, msg.Alerts, 2)
	require.Equal(t, `{}:{alertname="DetractorSpike", tenant="acme"}`, msg.GroupKey)
}
