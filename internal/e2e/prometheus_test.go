package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/testenv"
)

// promQuery asks a real Prometheus for an instant query and returns its
// vector result as label sets with their values.
func promQuery(t *testing.T, base, query string) []map[string]string {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var ans struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&ans) != nil {
		return nil
	}
	var out []map[string]string
	for _, r := range ans.Data.Result {
		m := r.Metric
		m["value"] = fmt.Sprint(r.Value[1])
		out = append(out, m)
	}
	return out
}

// TestScrapedByPrometheus starts both services and a real Prometheus
// (Debian's) scraping them every second with the rules of
// deploy/prometheus: `up` is 1 for both jobs, and the consumer lag of
// every input partition is there, by topic and partition, in messages and
// in seconds; the aggregator's metrics hold the counts of what it applied.
func TestScrapedByPrometheus(t *testing.T) {
	prom := testenv.Tool(t, "prometheus")
	_, broker := testenv.Kafka(t, 2, allTopics...)
	_, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_SCORE_METRICS": "10"}, newClock(time.Now()))
	ingestURL := startIngest(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker})
	produce(t, broker, surveys("acme", "p", 50, time.Now().Add(-time.Minute)))
	waitApplied(t, in.base)

	dir := t.TempDir()
	rules, err := os.ReadFile("../../deploy/prometheus/rules.yml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yml"), rules, 0o644))
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yml]
scrape_configs:
  - job_name: cxpulse-ingest
    static_configs: [{targets: ["%s"]}]
  - job_name: cxpulse-aggregator
    static_configs: [{targets: ["%s"]}]
`, strings.TrimPrefix(ingestURL, "http://"), strings.TrimPrefix(in.base, "http://"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644))
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cmd := exec.Command(prom, "--config.file", filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path", filepath.Join(dir, "data"),
		"--web.listen-address", listen)
	cmd.Dir = dir
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + listen

	var up []map[string]string
	require.Eventually(t, func() bool {
		up = promQuery(t, base, `up`)
		return len(up) == 2 && up[0]["value"] == "1" && up[1]["value"] == "1"
	}, 60*time.Second, 250*time.Millisecond, "up of both jobs (log in %s)", dir)
	jobs := []string{up[0]["job"], up[1]["job"]}
	require.ElementsMatch(t, []string{"cxpulse-ingest", "cxpulse-aggregator"}, jobs)

	var lag []map[string]string
	require.Eventually(t, func() bool {
		lag = promQuery(t, base, `cxpulse_consumer_lag_messages`)
		return len(lag) == 3*2 // three input topics of two partitions
	}, 60*time.Second, 250*time.Millisecond, "the lag of every input partition")
	for _, s := range lag {
		require.Contains(t, []string{"cx.surveys", "cx.tickets", "cx.purchases"}, s["topic"])
		require.Contains(t, []string{"0", "1"}, s["partition"])
		require.Equal(t, "0", s["value"], "everything was applied")
		require.Equal(t, "cxpulse-aggregator", s["job"])
	}
	require.Len(t, promQuery(t, base, `cxpulse_consumer_lag_seconds`), 6)
	applied := promQuery(t, base, `cxpulse_events_applied_total`)
	require.Len(t, applied, 1)
	require.Equal(t, "50", applied[0]["value"])
	require.NotEmpty(t, promQuery(t, base, `cxpulse_build_info{job="cxpulse-ingest"}`))
	score := promQuery(t, base, `cxpulse_score{tenant="acme", window="1h", stat="nps_responses"}`)
	require.Len(t, score, 1, "the score gauges are on")
	require.Equal(t, "50", score[0]["value"])

	// Every query of the Grafana dashboard runs on this Prometheus, and the
	// panels of what happened here have data (rates need a few scrapes).
	require.Eventually(t, func() bool { return len(promQuery(t, base, `min(count_over_time(up[1m])) >= 3`)) == 1 },
		30*time.Second, 250*time.Millisecond)
	b, err := os.ReadFile("../../deploy/grafana/cxpulse.json")
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	withData := map[string]bool{}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			expr := strings.ReplaceAll(tg.Expr, "$__rate_interval", "1m")
			resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(expr))
			require.NoError(t, err)
			var ans struct {
				Status, Error string
				Data          struct{ Result []any }
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&ans))
			_ = resp.Body.Close()
			require.Equal(t, "success", ans.Status, "%s: %s: %s", p.Title, expr, ans.Error)
			if len(ans.Data.Result) > 0 {
				withData[p.Title] = true
			}
		}
	}
	for _, title := range []string{"Aggregators up", "Ingest up", "Lag (messages)", "Throughput in and out", "Consumer lag (messages)",
		"NPS by tenant (CXPULSE_SCORE_METRICS)"} {
		require.True(t, withData[title], "panel %q has data", title)
	}
	var empty []string
	for _, p := range dash.Panels {
		if !withData[p.Title] {
			empty = append(empty, p.Title)
		}
	}
	t.Logf("dashboard panels with data from a real Prometheus: %d of %d (none yet: %s)", len(withData), len(dash.Panels), strings.Join(empty, "; "))
	if out := os.Getenv("CXPULSE_SCREENSHOT_DIR"); out != "" {
		screenshotPrometheus(t, base, out, dash.Panels[4].Targets[0].Expr, dash.Panels[6].Targets[0].Expr, dash.Panels[8].Targets[0].Expr)
	}
}

// screenshotPrometheus saves what Prometheus's own graph page draws for
// the given queries of the dashboard (Grafana itself is not installable
// here), for a person to look at.
func screenshotPrometheus(t *testing.T, base, dir string, exprs ...string) {
	chromium := testenv.Tool(t, "chromium")
	q := url.Values{}
	for i, e := range exprs {
		q.Set(fmt.Sprintf("g%d.expr", i), strings.ReplaceAll(e, "$__rate_interval", "1m"))
		q.Set(fmt.Sprintf("g%d.tab", i), "0")
		q.Set(fmt.Sprintf("g%d.range_input", i), "5m")
	}
	ctx := browser(t, chromium, 1280, 1600, 60*time.Second)
	// The page draws each graph (a Rickshaw SVG whose series is a path of
	// class "path") once its query answered.
	_, err := chromedp.Run(ctx, chromedp.Navigate(base+"/classic/graph?"+q.Encode()))
	require.NoError(t, err)
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(
		`document.querySelectorAll(".graph.rickshaw_graph svg path.path").length >= %d`, len(exprs))))
	require.NoError(t, err, "the graphs are drawn")
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus-graphs.png"), png, 0o644))
}
