package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/api"
	"github.com/cxpulse/cxpulse/internal/serve"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// TestDashboardInBrowser opens the dashboard in headless Chromium against
// an aggregator holding a baseline month and a detractor burst: the tiles
// show the API's numbers, the alert is listed with its terms, the chart is
// drawn, and a new event reaches the page over the stream. The page runs
// with a read key given as #token= (sent as a bearer header, and as
// ?token= only to the stream) under the dashboard's Content-Security-Policy;
// a wrong key is shown, not swallowed. A screenshot is saved in the test's
// temporary directory.
func TestDashboardInBrowser(t *testing.T) {
	chromium := testenv.Tool(t, "chromium")
	now := time.Date(2026, 11, 22, 12, 0, 30, 0, time.UTC)
	_, broker := testenv.Kafka(t, 2, allTopics...)
	_, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_EMIT_INTERVAL": "200ms", "CXPULSE_API_KEYS_FILE": acmeKeys(t), "CXPULSE_INSECURE_NO_AUTH": "0"}, newClock(now))
	baseline, spike := spikeData(now)
	produce(t, broker, append(baseline, spike...))
	waitApplied(t, in.base)
	require.NoError(t, in.agg.PublishOnce(t.Context()))

	ctx := browser(t, chromium, 1280, 1000, 60*time.Second)

	// Every Content-Security-Policy violation of the page is kept.
	_, err := chromedp.Run(ctx, chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.cspViolations = []; document.addEventListener("securitypolicyviolation", (e) => window.cspViolations.push(e.violatedDirective + " " + e.blockedURI));`})
		return chromedp.Void{}, err
	}))
	require.NoError(t, err)
	_, err = chromedp.Run(ctx, chromedp.Navigate(in.base+"/?tenant=acme#token=wrong"))
	require.NoError(t, err)
	problem, err := chromedp.Run(ctx, chromedp.Poll[string](`!document.querySelector('#problems').hidden && document.querySelector('#problems').textContent`,
		chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "a refused key is shown")
	require.Contains(t, problem, "401: unknown API key")
	_, err = chromedp.Run(ctx, chromedp.Evaluate[any](`sessionStorage.clear()`))
	require.NoError(t, err)

	_, err = chromedp.Run(ctx, chromedp.Navigate("about:blank"))
	require.NoError(t, err)
	_, err = chromedp.Run(ctx, chromedp.Navigate(in.base+"/?tenant=acme#token=acme-read"))
	require.NoError(t, err)
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('#tile-nps .value').textContent !== '–' &&
		document.querySelectorAll('#alerts li.alert').length > 0 &&
		document.querySelector('#chart canvas') !== null &&
		document.querySelectorAll('#leaderboard tbody tr').length > 0 &&
		document.querySelectorAll('#periods tbody tr').length === 8`, chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "the page did not fill in")
	// The calendar period panel shows the month under way against the
	// month before, as /periods answers it.
	var month api.PeriodAnswer
	require.Equal(t, http.StatusOK, getJSONWithKey(t, in.base+"/v1/tenants/acme/periods?period=mtd&compare=previous", "acme-read", &month))
	periodHead, err := chromedp.Run(ctx, chromedp.Text(`#period-this`))
	require.NoError(t, err)
	require.Equal(t, month.Period, periodHead)
	npsRow, err := chromedp.Run(ctx, chromedp.Text(`#periods tbody tr:first-child`))
	require.NoError(t, err)
	require.Contains(t, npsRow, fmt.Sprintf("%.1f", month.Stats["nps"]))
	npsText, err := chromedp.Run(ctx, chromedp.Text(`#tile-nps .value`))
	require.NoError(t, err)
	alertText, err := chromedp.Run(ctx, chromedp.Text(`#alerts`))
	require.NoError(t, err)
	seq, err := chromedp.Run(ctx, chromedp.Evaluate[int](`Number(document.body.dataset.seq)`))
	require.NoError(t, err)
	var s scores.Scores
	require.Equal(t, http.StatusOK, getJSONWithKey(t, in.base+"/v1/tenants/acme/scores?scope=all", "acme-read", &s))
	require.Equal(t, fmt.Sprintf("%.1f", s.Windows["7d"]["nps"]), npsText, "the NPS tile shows the 7d NPS of the API")
	require.Contains(t, alertText, "store=s03")
	require.Contains(t, alertText, "refund")

	// A new response reaches the open page over the stream.
	produce(t, broker, []msg{eventMsg(events.Event{ID: "live-1", Type: events.TypeSurveyResponse, Tenant: "acme", OccurredAt: now,
		Dims: map[string]string{"store": "s01"}, Survey: &events.Survey{Metric: events.MetricNPS, Score: 10}})})
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(
		`Number(document.body.dataset.seq) > %d && document.querySelector('#live').className === 'live on'`, seq),
		chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "the new event did not reach the page")
	state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " " + document.querySelector('#problems').hidden`))
	require.NoError(t, err)
	require.Equal(t, in.base+"/?tenant=acme true", state, "the key is out of the address bar and nothing failed")
	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.cspViolations`))
	require.NoError(t, err)
	require.Empty(t, violations, "the page keeps to its Content-Security-Policy")
	resp, err := http.Get(in.base + "/")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, serve.PagePolicy, resp.Header.Get("Content-Security-Policy"))
	require.Contains(t, serve.PagePolicy, "frame-ancestors 'none'")
	require.NotContains(t, serve.PagePolicy, "unsafe-inline")

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	shot := filepath.Join(t.TempDir(), "dashboard.png")
	require.NoError(t, os.WriteFile(shot, png, 0o644))
	require.True(t, strings.HasPrefix(string(png[1:4]), "PNG"))
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	if dir := os.Getenv("CXPULSE_SCREENSHOT_DIR"); dir != "" {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "dashboard.png"), png, 0o644))
	}
}
