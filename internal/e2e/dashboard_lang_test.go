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

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/api"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// TestDashboardLanguagesAndAlerts runs the demo's story (a month of
// history, then a detractor spike about late refunds at s03 and one with
// no comments at all at s07, so some alerts have no terms) and checks the
// dashboard in headless Chromium: every firing alert the API lists is on
// the page, the NPS tile equals the API, a failing request shows its
// reason in its panel, and the page reads in English, Persian (right to
// left, Persian digits), Romanian and Chinese; a screenshot of each is
// saved in the test's temporary directory (and CXPULSE_SCREENSHOT_DIR).
func TestDashboardLanguagesAndAlerts(t *testing.T) {
	chromium := testenv.Tool(t, "chromium")
	now := time.Date(2026, 11, 22, 12, 0, 30, 0, time.UTC)
	_, broker := testenv.Kafka(t, 2, allTopics...)
	_, addr := testenv.Redis(t)
	tenantsFile := writeTenants(t, "tenants:\n  acme: {}\n  parsa: {timezone: Asia/Tehran, calendar: persian}\n")
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_EMIT_INTERVAL": "200ms", "CXPULSE_TENANTS_FILE": tenantsFile}, newClock(now))
	baseline, spike := spikeData(now)
	for i := range 60 { // s07's last six hours: 45 detractors who say nothing
		score := 2
		if i%4 == 0 {
			score = 10
		}
		spike = append(spike, eventMsg(events.Event{ID: fmt.Sprintf("quiet-%d", i), Type: events.TypeSurveyResponse, Tenant: "acme",
			OccurredAt: now.Add(-6*time.Hour + time.Duration(i)*6*time.Minute),
			Dims:       map[string]string{"store": "s07", "region": "us", "channel": "store"},
			Survey:     &events.Survey{Metric: events.MetricNPS, Score: score}}))
	}
	for i := range 5 { // a tenant on the Persian calendar
		spike = append(spike, eventMsg(events.Event{ID: fmt.Sprintf("p-%d", i), Type: events.TypeSurveyResponse, Tenant: "parsa",
			OccurredAt: now.Add(-time.Duration(i) * time.Hour), Dims: map[string]string{"store": "tehran-1"},
			Survey: &events.Survey{Metric: events.MetricNPS, Score: 9}}))
	}
	produce(t, broker, append(baseline, spike...))
	waitApplied(t, in.base)
	// The aggregator's own publisher evaluates too, concurrently with
	// PublishOnce: the list is taken once two evaluations in a row leave
	// it as it was (the clock stands still, so it then stays).
	var firing api.AlertList
	require.Eventually(t, func() bool {
		require.NoError(t, in.agg.PublishOnce(t.Context()))
		var again api.AlertList
		require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/alerts?state=firing", &again))
		settled := len(again.Alerts) > 0 && len(again.Alerts) == len(firing.Alerts)
		firing = again
		return settled
	}, 30*time.Second, 300*time.Millisecond, "the firing alerts did not settle")
	withoutTerms, explained := 0, 0
	for _, a := range firing.Alerts {
		explained += len(a.AlsoAffects)
		if _, ok := a.Annotations["top_terms"]; !ok {
			withoutTerms++
		}
	}
	require.Greater(t, len(firing.Alerts), 1)
	require.Positive(t, withoutTerms, "some alerts have no terms")
	require.Positive(t, explained, "some alerts explain larger scopes")
	var s scores.Scores
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/scores?scope=store%3Ds03", &s))
	// The page shows store s03, where the detractors talk of refunds.
	var themes api.ThemeList
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/themes?scope=store%3Ds03&window=7d", &themes))
	require.NotEmpty(t, themes.Terms)
	var themeTerms []string
	for _, term := range themes.Terms {
		themeTerms = append(themeTerms, term.Term)
	}

	ctx := browser(t, chromium, 1280, 1400, 120*time.Second)
	dir := t.TempDir()
	filled := `document.querySelector('#tile-nps .value').textContent !== '–' &&
		document.querySelectorAll('#alerts li.alert').length > 0 && document.querySelector('#chart canvas') !== null &&
		document.querySelectorAll('#periods tbody tr').length === 8 && document.querySelectorAll('#leaderboard tbody tr').length > 0 &&
		document.querySelectorAll('#themes tbody tr').length > 0`
	for _, tc := range []struct {
		lang, dir, alertsHeading string
		npsDigits                string // a pattern the NPS tile matches
		themesHeading            string
		windowWords              string // a pattern every alert summary's window matches
	}{
		{"en", "ltr", "Alerts", `^-?[0-9]+\.[0-9]$`, "What detractors talk about", `over [0-9]+ (hours|days)`},
		{"fa", "rtl", "هشدارها", `^[−\-‎]*[۰-۹]+٫[۰-۹]$`, "منتقدان دربارهٔ چه می‌گویند", `[۰-۹]+ (ساعت|روز)`},
		{"ro", "ltr", "Alerte", `^-?[0-9]+,[0-9]$`, "Despre ce vorbesc detractorii", `[0-9]+ (de )?(ore|zile)`},
		{"zh", "ltr", "告警", `^-?[0-9]+\.[0-9]$`, "贬损者在谈论什么", `[0-9]+ ?(小时|天)`},
	} {
		_, err := chromedp.Run(ctx, chromedp.Navigate(in.base+"/?tenant=acme&scope=store%3Ds03&lang="+tc.lang))
		require.NoError(t, err)
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](filled, chromedp.WithPollingTimeout(30*time.Second)))
		require.NoError(t, err, "%s: the page did not fill in", tc.lang)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[document.documentElement.dir, document.documentElement.lang,
			document.querySelector('section.panel:last-of-type h2').textContent, document.querySelector('#tile-nps .value').textContent,
			String(document.querySelectorAll('#alerts li.alert').length), String(document.querySelectorAll('#alerts li.broken').length),
			[...document.querySelectorAll('#alerts li.alert')].map((li) => li.dataset.scope).join(' ')]`))
		require.NoError(t, err)
		require.Equal(t, tc.dir, got[0], tc.lang)
		require.Equal(t, tc.lang, got[1])
		require.Equal(t, tc.alertsHeading, got[2], tc.lang)
		require.Regexp(t, tc.npsDigits, got[3], "%s: the NPS tile in the language's digits", tc.lang)
		require.Equal(t, fmt.Sprint(len(firing.Alerts)), got[4], "%s: every firing alert is listed", tc.lang)
		require.Equal(t, "0", got[5], tc.lang)
		for _, a := range firing.Alerts {
			require.Contains(t, got[6], a.Labels["scope"], tc.lang)
		}
		if tc.lang == "en" {
			require.Equal(t, fmt.Sprintf("%.1f", s.Windows["7d"]["nps"]), got[3], "the NPS tile shows the API's 7d NPS")
		}
		// The themes of store s03 over 7d, as the API has them; every
		// alert's window in the reader's language, never as "24h".
		checkThemesAndSummaries(t, ctx, tc.lang, tc.themesHeading, tc.windowWords, strings.Join(themeTerms, " "), explained, len(firing.Alerts))
		saveScreenshot(t, ctx, dir, "dashboard-"+tc.lang+".png")
	}

	checkPersianPeriodNames(t, ctx, in.base)

	// A request that fails shows its reason in its own panel (and the
	// banner), and the other panels stay.
	_, err := chromedp.Run(ctx, chromedp.Evaluate[any](`(() => { const m = document.querySelector('#metric');
		m.add(new Option('bogus', 'bogus')); m.value = 'bogus'; m.dispatchEvent(new Event('change')); })()`))
	require.NoError(t, err)
	reason, err := chromedp.Run(ctx, chromedp.Poll[string](`!document.querySelector('#error-trend').hidden && document.querySelector('#error-trend').textContent`,
		chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "the failing trend shows why")
	require.Contains(t, reason, "400")
	require.Contains(t, reason, `"bogus" has no series`)
	banner, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.querySelector('#problems').hidden &&
		document.querySelectorAll('#periods tbody tr').length === 8 && document.querySelector('#error-periods').hidden`))
	require.NoError(t, err)
	require.True(t, banner)
}

// checkThemesAndSummaries checks, on the dashboard in lang, the themes
// panel (its heading, and its terms as the API has them), the scopes the
// alerts explain, and that every alert summary names its window in the
// language.
func checkThemesAndSummaries(t *testing.T, ctx context.Context, lang, heading, windowWords, terms string, explained, alerts int) {
	t.Helper()
	page, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[document.querySelector('#themes').closest('section').querySelector('h2').textContent,
		[...document.querySelectorAll('#themes tbody tr')].map((tr) => tr.cells[0].textContent).join(' '),
		String(document.querySelectorAll('#alerts li.alert .also a').length),
		...[...document.querySelectorAll('#alerts li.alert > div:first-of-type')].map((d) => d.textContent)]`))
	require.NoError(t, err)
	require.Equal(t, heading, page[0], lang)
	require.Equal(t, terms, page[1], "%s: the themes panel shows the API's terms", lang)
	require.Equal(t, fmt.Sprint(explained), page[2], "%s: every scope an alert explains is under it", lang)
	require.Len(t, page[3:], alerts)
	for _, summary := range page[3:] {
		require.Regexp(t, windowWords, summary, lang)
		require.NotRegexp(t, `[0-9](h|d)\b`, summary, "%s: a window name left untranslated", lang)
	}
}

// saveScreenshot saves the page in the test's directory (and
// CXPULSE_SCREENSHOT_DIR when set).
func saveScreenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	shot := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(shot, png, 0o644))
	t.Logf("screenshot %s (%d bytes)", shot, len(png))
	if out := os.Getenv("CXPULSE_SCREENSHOT_DIR"); out != "" {
		require.NoError(t, os.WriteFile(filepath.Join(out, name), png, 0o644))
	}
}

// checkPersianPeriodNames: a tenant on the Persian calendar sees Persian
// period names, in any language: 22 November 2026 is 1 Azar 1405.
func checkPersianPeriodNames(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Navigate(base+"/?tenant=parsa&lang=en"))
	require.NoError(t, err)
	names, err := chromedp.Run(ctx, chromedp.Poll[string](`document.querySelectorAll('#periods tbody tr').length === 8 &&
		document.querySelector('#period-this').textContent + ' | ' + document.querySelector('#period option[value=mtd]').textContent`,
		chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err)
	require.Equal(t, "آذر ۱۴۰۵ | ماه تا امروز", names)
}
