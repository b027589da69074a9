package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/testenv"
)

// hookPayloads collects Alertmanager's own webhook messages.
type hookPayloads struct {
	mu   sync.Mutex
	msgs []map[string]any
}

func (h *hookPayloads) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m map[string]any
	b, _ := io.ReadAll(r.Body)
	if json.Unmarshal(b, &m) == nil {
		h.mu.Lock()
		h.msgs = append(h.msgs, m)
		h.mu.Unlock()
	}
}

// find returns the alerts of the messages of a status, for a scope.
func (h *hookPayloads) find(status, scope string) []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]any
	for _, m := range h.msgs {
		alerts, _ := m["alerts"].([]any)
		for _, a := range alerts {
			am, _ := a.(map[string]any)
			labels, _ := am["labels"].(map[string]any)
			if am["status"] == status && labels["scope"] == scope {
				out = append(out, am)
			}
		}
	}
	return out
}

// TestRealAlertmanager: a detractor spike makes cxpulse post to a real
// Alertmanager (Debian's); amtool shows the alert with cxpulse's labels
// and annotations, Alertmanager's own webhook to a receiver it routes to
// carries them, and the resolution reaches both once the spike has gone.
// The aggregator's clock runs a day behind the real one, so that the
// resolution it sends lies in Alertmanager's past.
func TestRealAlertmanager(t *testing.T) {
	am, amtool := testenv.Tool(t, "prometheus-alertmanager"), testenv.Tool(t, "amtool")
	hooks := &hookPayloads{}
	hookSrv := httptest.NewServer(hooks)
	defer hookSrv.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`route:
  receiver: "null"
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: [alertname="DetractorSpike"]
      receiver: hook
      group_by: [tenant, scope]
receivers:
  - name: "null"
  - name: hook
    webhook_configs: [{url: "%s", send_resolved: true}]
`, hookSrv.URL)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "am.yml"), []byte(cfg), 0o644))
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cmd := exec.Command(am, "--config.file", filepath.Join(dir, "am.yml"), "--storage.path", filepath.Join(dir, "data"),
		"--web.listen-address", listen, "--cluster.listen-address=")
	logf, err := os.Create(filepath.Join(dir, "alertmanager.log"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	amURL := "http://" + listen
	out, err := exec.Command(amtool, "check-config", filepath.Join(dir, "am.yml")).CombinedOutput()
	require.NoError(t, err, "%s", out)

	now := time.Now().Add(-26 * time.Hour).Truncate(time.Second)
	clk := newClock(now)
	_, broker := testenv.Kafka(t, 4, allTopics...)
	_, addr := testenv.Redis(t)
	// The test evaluates (PublishOnce) once everything is applied: an
	// evaluation of the publish loop halfway through could fire the alert
	// on part of the burst, with terms too thin to name, and with a resend
	// every 24h Alertmanager would show that first version.
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_EMIT_INTERVAL": "1h", "CXPULSE_ALERTMANAGER_URL": amURL, "CXPULSE_ALERT_RESEND": "24h",
		"CXPULSE_EXTERNAL_URL": "https://cx.example.com"}, clk)
	baseline, spike := spikeData(now)
	produce(t, broker, append(baseline, spike...))
	waitApplied(t, in.base)
	require.NoError(t, in.agg.PublishOnce(t.Context()))

	// What amtool shows.
	query := func() []map[string]any {
		out, err := exec.Command(amtool, "--alertmanager.url", amURL, "alert", "query", "-o", "json", "alertname=DetractorSpike", "scope=store=s03").Output()
		if err != nil {
			return nil
		}
		var list []map[string]any
		if json.Unmarshal(out, &list) != nil {
			return nil
		}
		return list
	}
	var shown []map[string]any
	require.Eventually(t, func() bool { shown = query(); return len(shown) == 1 }, 30*time.Second, 200*time.Millisecond,
		"amtool shows the alert (log in %s)", dir)
	labels := shown[0]["labels"].(map[string]any)
	annotations := shown[0]["annotations"].(map[string]any)
	require.Equal(t, map[string]any{"alertname": "DetractorSpike", "tenant": "acme", "scope": "store=s03", "severity": "critical"}, labels)
	require.Contains(t, annotations["top_terms"], `"term":"refund"`)
	require.Contains(t, annotations["summary"], "store=s03")
	require.True(t, strings.HasPrefix(fmt.Sprint(shown[0]["generatorURL"]), "https://cx.example.com/"), "generator URL %v", shown[0]["generatorURL"])
	text, err := exec.Command(amtool, "--alertmanager.url", amURL, "alert", "query", "alertname=DetractorSpike", "scope=store=s03").CombinedOutput()
	require.NoError(t, err)
	t.Logf("amtool alert query alertname=DetractorSpike scope=store=s03:\n%s", text)

	// Alertmanager's own webhook, routed to the test's receiver.
	var fired []map[string]any
	require.Eventually(t, func() bool { fired = hooks.find("firing", "store=s03"); return len(fired) > 0 }, 30*time.Second, 200*time.Millisecond)
	require.Contains(t, fired[0]["annotations"].(map[string]any)["top_terms"], "refund")

	// A day on, the spike is out of the detection horizon: cxpulse
	// resolves the alert, and Alertmanager passes the resolution on.
	clk.set(now.Add(25 * time.Hour))
	require.NoError(t, in.agg.SweepOnce(t.Context()))
	require.NoError(t, in.agg.PublishOnce(t.Context()))
	require.Eventually(t, func() bool { return len(hooks.find("resolved", "store=s03")) > 0 }, 60*time.Second, 200*time.Millisecond,
		"the resolution reaches the webhook")
	require.Empty(t, query(), "amtool shows the alert no more")
}
