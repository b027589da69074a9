package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// TestUnicodeStoreNames: Persian, Chinese and Romanian store names are
// scopes end to end (Kafka, the view key, the API, the dashboard's
// leaderboard and scope picker), and a name typed decomposed (t +
// combining comma) is the same scope as the composed one.
func TestUnicodeStoreNames(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	_, broker := testenv.Kafka(t, 2, allTopics...)
	rdb, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}, newClock(now))
	stores := []string{"تهران مرکز", "上海 静安", "Piața Unirii", "Pia" + "t\u0326" + "a Unirii", "Trinidad & Tobago"}
	var msgs []msg
	for i := range 25 {
		msgs = append(msgs, eventMsg(events.Event{ID: fmt.Sprintf("u-%d", i), Tenant: "acme", Type: events.TypeSurveyResponse,
			OccurredAt: now.Add(-time.Duration(i) * time.Minute), Dims: map[string]string{"store": stores[i%5]},
			Survey: &events.Survey{Metric: events.MetricNPS, Score: 10}}))
	}
	produce(t, broker, msgs)
	waitApplied(t, in.base)
	for store, n := range map[string]float64{"تهران مرکز": 5, "上海 静安": 5, "Piața Unirii": 10, "Trinidad & Tobago": 5} {
		var got scores.Scores
		require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/scores?scope="+url.QueryEscape("store="+store), &got), store)
		require.Equal(t, n, got.Windows["1h"]["nps_responses"], store)
		require.Equal(t, 100.0, got.Windows["1h"]["nps"], store)
		require.Equal(t, int64(1), rdb.Exists(t.Context(), "cxpulse:{acme}:scores:store="+store).Val(), store)
	}

	ctx := browser(t, testenv.Tool(t, "chromium"), 1280, 1000, 60*time.Second)
	_, err := chromedp.Run(ctx, chromedp.Navigate(in.base+"/?tenant=acme"))
	require.NoError(t, err)
	shown, err := chromedp.Run(ctx, chromedp.Poll[string](`document.querySelectorAll('#leaderboard tbody tr').length >= 4 &&
		document.querySelector('#leaderboard').textContent + " | " + [...document.querySelectorAll('#scope option')].map((o) => o.value).join(",")`,
		chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "the leaderboard did not fill in")
	for _, store := range []string{"تهران مرکز", "上海 静安", "Piața Unirii", "Trinidad & Tobago"} {
		require.Contains(t, shown, store)
		require.Contains(t, shown, "store="+store)
	}
}
