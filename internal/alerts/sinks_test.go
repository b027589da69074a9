package alerts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
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
	// retryAfter, when set, is sent with the failures.
	retryAfter string
	bodies     [][]byte
	paths      []string
	headers    []http.Header
	at         []time.Time // of every request, failed or not
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.at = append(r.at, time.Now())
	r.headers = append(r.headers, req.Header.Clone())
	if r.fail > 0 {
		r.fail--
		if r.retryAfter != "" {
			w.Header().Set("Retry-After", r.retryAfter)
		}
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

// TestSignKnownVector: the signature of a fixed body, worked out with
// `printf '%s' '{"version":"4","status":"firing"}' | openssl dgst -sha256 -hmac whsec-test`
// (and Python's hmac module, which agrees).
func TestSignKnownVector(t *testing.T) {
	require.Equal(t, "sha256=a8b9e3f9e886425bd3c0c36bcfd75dfd473356996d866c9d87274b2c47733c08",
		Sign("whsec-test", []byte(`{"version":"4","status":"firing"}`)))
}

// TestWebhookSignedAndRetried: the receiver asks for a pause with 429 and
// Retry-After, then times out with 408, then takes the message. Every try
// carries the same event id and a signature that checks out over the bytes
// received; the pause asked for is kept.
func TestWebhookSignedAndRetried(t *testing.T) {
	hook := &receiver{fail: 1, status: http.StatusTooManyRequests, retryAfter: "1"}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	l := Labels("acme", "store=s1", Critical)
	n := Notification{Status: Firing, Labels: l, StartsAt: start, EndsAt: start.Add(time.Minute), Fingerprint: Fingerprint(l)}
	s := &Webhook{URL: srv.URL, Secret: "whsec-test", Client: http.DefaultClient}
	r := Retry{Backoff: time.Millisecond, MaxBackoff: time.Millisecond, Attempts: 5, Timeout: time.Second}
	require.NoError(t, r.Deliver(context.Background(), zaptest.NewLogger(t), s, []Notification{n}, nil))
	hook.mu.Lock()
	hook.fail, hook.status, hook.retryAfter = 1, http.StatusRequestTimeout, ""
	hook.mu.Unlock()
	require.NoError(t, r.Deliver(context.Background(), zaptest.NewLogger(t), s, []Notification{n}, nil))

	hook.mu.Lock()
	defer hook.mu.Unlock()
	require.Len(t, hook.at, 4, "429 retried, 408 retried")
	require.GreaterOrEqual(t, hook.at[1].Sub(hook.at[0]), time.Second, "Retry-After: 1 is kept")
	ids := map[string]bool{}
	for _, h := range hook.headers {
		ids[h.Get(EventIDHeader)] = true
	}
	require.Len(t, ids, 1, "one message, one id, on every try")
	require.Len(t, hook.bodies[0], len(hook.bodies[1]))
	for i, b := range hook.bodies {
		m := hmac.New(sha256.New, []byte("whsec-test"))
		m.Write(b)
		require.Equal(t, "sha256="+hex.EncodeToString(m.Sum(nil)), hook.headers[2*i+1].Get(SignatureHeader))
	}
	unsigned := &receiver{}
	srv2 := httptest.NewServer(unsigned)
	defer srv2.Close()
	require.NoError(t, (&Webhook{URL: srv2.URL, Client: http.DefaultClient}).Send(context.Background(), []Notification{n}))
	require.Empty(t, unsigned.headers[0].Get(SignatureHeader), "no secret, no signature")
}

func TestRetryAfterForms(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	require.Equal(t, 7*time.Second, retryAfter("7", now))
	require.Equal(t, 90*time.Second, retryAfter("Sun, 22 Nov 2026 12:01:30 GMT", now))
	require.Zero(t, retryAfter("", now))
	require.Zero(t, retryAfter("soon", now))
	require.Zero(t, retryAfter("Sun, 22 Nov 2026 11:00:00 GMT", now), "a date passed asks for no wait")
}
