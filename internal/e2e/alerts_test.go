package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/api"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// alertmanager stands in for Alertmanager: it records every alert posted
// to /api/v2/alerts.
type alertmanager struct {
	mu     sync.Mutex
	alerts []map[string]any
}

func (am *alertmanager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v2/alerts" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	var posted []map[string]any
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &posted); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	am.mu.Lock()
	am.alerts = append(am.alerts, posted...)
	am.mu.Unlock()
}

// received returns the (scope, severity, endsAt) of what it was sent.
func (am *alertmanager) received() []map[string]any {
	am.mu.Lock()
	defer am.mu.Unlock()
	return slices.Clone(am.alerts)
}

// TestDetractorSpikeAlert: a baseline month for ten stores, then a burst
// of detractor comments about a late refund, in several languages, at
// store s03. The store's alert fires on cx.alerts, at the Alertmanager
// stand-in and in the alerts API, naming "refund"; no other store alerts.
// A day later, with the spike past and keep_firing_for elapsed on the fake
// clock, it is resolved, once.
func TestDetractorSpikeAlert(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 30, 0, time.UTC)
	clk := newClock(now)
	_, broker := testenv.Kafka(t, 4, allTopics...)
	_, addr := testenv.Redis(t)
	am := &alertmanager{}
	amSrv := httptest.NewServer(am)
	defer amSrv.Close()
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_EMIT_INTERVAL": "1h", "CXPULSE_ALERTMANAGER_URL": amSrv.URL, "CXPULSE_ALERT_RESEND": "1h"}, clk) // evaluated by the test, on the whole burst

	msgs, spike := spikeData(now)
	produce(t, broker, msgs)
	waitApplied(t, in.base)
	require.NoError(t, in.agg.PublishOnce(t.Context()))
	var list api.AlertList
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/alerts?state=all", &list))
	require.Empty(t, list.Alerts, "the baseline month alerts nothing")

	produce(t, broker, spike)
	waitApplied(t, in.base)
	require.NoError(t, in.agg.PublishOnce(t.Context()))

	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/alerts", &list))
	// One cause, one alert: the store's. The scopes that hold the whole
	// burst (its region, all) would alert on their own answers; the store
	// explains them, and names them. A channel holds a third of the burst
	// and may or may not be named.
	require.Len(t, list.Alerts, 1, "%+v", list.Alerts)
	store3 := list.Alerts[0]
	require.Equal(t, "store=s03", store3.Labels["scope"])
	for k, v := range store3.Annotations {
		require.NotEqual(t, "null", v, "annotation %s", k)
	}
	require.Subset(t, store3.AlsoAffects, []string{"all", "region=eu"})
	require.Subset(t, []string{"all", "region=eu", "channel=web", "channel=app", "channel=store"}, store3.AlsoAffects)
	require.Equal(t, strings.Join(store3.AlsoAffects, ", "), store3.Annotations["also_affects"])
	require.Equal(t, "critical", store3.Labels["severity"])
	var terms []alerts.Term
	require.NoError(t, json.Unmarshal([]byte(store3.Annotations["top_terms"]), &terms))
	require.NotEmpty(t, terms)
	require.Equal(t, "refund", terms[0].Term, "top terms %v", terms)
	require.Equal(t, "24h", store3.Annotations["window"])
	require.NotEmpty(t, store3.Annotations["comment_1"])
	checkBudgetNamed(t, in.base, store3.Annotations["description"])
	t.Logf("summary: %s\ndescription: %s\ntop_terms: %s", store3.Annotations["summary"], store3.Annotations["description"], store3.Annotations["top_terms"])

	// The same alert, once, on cx.alerts and at Alertmanager.
	recs := testenv.Consume(t, broker, "cx.alerts", len(list.Alerts))
	var onKafka []alerts.Notification
	for _, r := range recs {
		var nt alerts.Notification
		require.NoError(t, json.Unmarshal(r.Value, &nt))
		require.Equal(t, nt.Fingerprint, string(r.Key))
		onKafka = append(onKafka, nt)
	}
	k := slices.IndexFunc(onKafka, func(nt alerts.Notification) bool {
		return nt.Fingerprint == store3.Fingerprint && nt.Status == alerts.Firing
	})
	require.GreaterOrEqual(t, k, 0)
	pretty, _ := json.MarshalIndent(onKafka[k], "", "  ")
	t.Logf("on cx.alerts:\n%s", pretty)
	require.Eventually(t, func() bool {
		return slices.ContainsFunc(am.received(), func(a map[string]any) bool {
			l := a["labels"].(map[string]any)
			return l["scope"] == "store=s03" && l["severity"] == "critical"
		})
	}, 10*time.Second, 20*time.Millisecond)

	// Another evaluation changes nothing: no second alert.
	require.NoError(t, in.agg.PublishOnce(t.Context()))
	require.Equal(t, int64(len(list.Alerts)), testenv.Count(t, broker, "cx.alerts"))

	// The clock moves on in half hours, evaluating each time: once the
	// burst leaves the 24h detection horizon the statistic falls below the
	// threshold, and keep_firing_for (1h) later the alert resolves.
	var resolvedAt, lastFiring time.Time
	for at := now.Add(18 * time.Hour); at.Before(now.Add(28 * time.Hour)); at = at.Add(30 * time.Minute) {
		clk.set(at)
		require.NoError(t, in.agg.SweepOnce(t.Context()))
		require.NoError(t, in.agg.PublishOnce(t.Context()))
		require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/alerts?state=all", &list))
		i := slices.IndexFunc(list.Alerts, func(al *alerts.Alert) bool { return al.Fingerprint == store3.Fingerprint })
		require.GreaterOrEqual(t, i, 0)
		switch list.Alerts[i].State {
		case alerts.Firing:
			require.True(t, resolvedAt.IsZero(), "fired again after resolving")
			lastFiring = at
		case alerts.Resolved:
			if resolvedAt.IsZero() {
				resolvedAt = list.Alerts[i].EndsAt
			}
			require.Equal(t, resolvedAt, list.Alerts[i].EndsAt)
		}
	}
	require.False(t, resolvedAt.IsZero(), "resolved")
	require.Equal(t, lastFiring.Add(30*time.Minute), resolvedAt)
	// It was still firing half an hour before, below the threshold: the
	// burst's last hour left the horizon at +24h at the latest.
	require.False(t, resolvedAt.Before(now.Add(18*time.Hour+time.Hour)), "resolved at %s", resolvedAt)
	require.False(t, resolvedAt.After(now.Add(25*time.Hour+30*time.Minute)), "resolved at %s", resolvedAt)
	t.Logf("resolved %s after the spike", resolvedAt.Sub(now))

	resolved := 0
	for _, r := range testenv.Consume(t, broker, "cx.alerts", int(testenv.Count(t, broker, "cx.alerts"))) {
		var nt alerts.Notification
		require.NoError(t, json.Unmarshal(r.Value, &nt))
		if nt.Fingerprint == store3.Fingerprint && nt.Status == alerts.Resolved {
			resolved++
		}
	}
	require.Equal(t, 1, resolved, "the resolution is sent once")
	require.Eventually(t, func() bool {
		return slices.ContainsFunc(am.received(), func(a map[string]any) bool {
			l := a["labels"].(map[string]any)
			return l["scope"] == "store=s03" && a["endsAt"] == resolvedAt.Format(time.RFC3339)
		})
	}, 10*time.Second, 20*time.Millisecond)
}

// spikeData returns a baseline month for ten stores (50 NPS responses a
// day each, 20 % detractors, a third of them commenting) and a burst at
// s03 in the six hours before now: 60 responses, 45 detractors complaining
// about a late refund in several languages.
func spikeData(now time.Time) (baseline, spike []msg) { return spikeAt(now, 3) }

// spikeAt is spikeData with the burst at each of the given stores.
func spikeAt(now time.Time, stores ...int) (baseline, spike []msg) {
	rng := rand.New(rand.NewPCG(7, 7))
	usual := []string{"slow checkout", "rude staff at the counter", "long queue again", "store was dirty", "prices too high",
		"Die Schlange war lang", "le personnel était impoli", "кассир был груб"}
	burst := []string{"my refund is late", "refund still not received after weeks", "where is my refund? late again",
		"Rückerstattung kommt zu spät, refund missing", "remboursement en retard, refund please", "退款太慢 refund late",
		"возврат денег задерживается, refund", "refund late, nobody answers", "late refund, very disappointed"}
	n := 0
	response := func(store int, at time.Time, score int, comment string) msg {
		n++
		return eventMsg(events.Event{ID: fmt.Sprintf("r-%d", n), Type: events.TypeSurveyResponse, Tenant: "acme",
			OccurredAt: at.Truncate(time.Millisecond),
			Dims: map[string]string{"store": fmt.Sprintf("s%02d", store), "region": []string{"eu", "us", "apac"}[store%3],
				"channel": []string{"web", "app", "store"}[rng.IntN(3)]},
			Survey: &events.Survey{Metric: events.MetricNPS, Score: score, Comment: comment}})
	}
	usualScore := func() int {
		switch r := rng.Float64(); {
		case r < 0.2:
			return rng.IntN(7)
		case r < 0.45:
			return 7 + rng.IntN(2)
		default:
			return 9 + rng.IntN(2)
		}
	}
	var msgs []msg
	// 30 days, 10 stores, 50 responses a day each; a third of the
	// detractors comment.
	for store := range 10 {
		for range 30 * 50 {
			at := now.Add(-time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
			if slices.Contains(stores, store) && now.Sub(at) < 6*time.Hour {
				continue // the spike store's last hours come below
			}
			score, comment := usualScore(), ""
			if score <= 6 && rng.IntN(3) == 0 {
				comment = usual[rng.IntN(len(usual))]
			}
			msgs = append(msgs, response(store, at, score, comment))
		}
	}
	// The burst: the last six hours at s03, 60 responses, 45 detractors.
	for _, store := range stores {
		for i := range 60 {
			at := now.Add(-6*time.Hour + time.Duration(i)*6*time.Minute)
			if i%4 == 0 {
				spike = append(spike, response(store, at, 9, ""))
				continue
			}
			spike = append(spike, response(store, at, rng.IntN(5), burst[i%len(burst)]))
		}
	}
	return msgs, spike
}

// TestTwoStoresOneCause: bursts at two stores of one region at once fire
// the two stores; the region and the tenant alert only through them, so
// they do not alert, and each store names them.
func TestTwoStoresOneCause(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 30, 0, time.UTC)
	_, broker := testenv.Kafka(t, 4, allTopics...)
	_, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_EMIT_INTERVAL": "200ms"}, newClock(now))
	baseline, spike := spikeAt(now, 3, 6) // both in region eu
	produce(t, broker, append(baseline, spike...))
	waitApplied(t, in.base)
	require.NoError(t, in.agg.PublishOnce(t.Context()))
	var list api.AlertList
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/alerts", &list))
	var scopes []string
	for _, al := range list.Alerts {
		scopes = append(scopes, al.Labels["scope"])
		require.Subset(t, al.AlsoAffects, []string{"all", "region=eu"}, al.Labels["scope"])
	}
	slices.Sort(scopes)
	require.Equal(t, []string{"store=s03", "store=s06"}, scopes)
}

// TestAlertSurvivesKillAndReplay SIGKILLs the aggregator while the
// baseline and the burst stream in, restarts it, and once the alert fires
// kills it again and makes it replay every partition from the start: the
// counts stay exact and the alert stays the same single alert (one
// fingerprint, one startsAt, never resolved).
func TestAlertSurvivesKillAndReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the aggregator")
	}
	bin := buildAggregator(t)
	_, broker := testenv.Kafka(t, 4, allTopics...)
	rdb, redisAddr := testenv.Redis(t)
	env := []string{"CXPULSE_KAFKA_BROKERS=" + broker, "CXPULSE_REDIS_URL=redis://" + redisAddr, "CXPULSE_INSECURE_NO_AUTH=1",
		"CXPULSE_GROUP_ID=alerts", "CXPULSE_EMIT_INTERVAL=200ms", "CXPULSE_ALERT_RESEND=1h"}
	now := time.Now()
	baseline, spike := spikeData(now)
	all := append(baseline, spike...)

	// claimed waits until a member holds every input partition under a
	// claim newer than before: killing a member in the middle of joining
	// the group leaves kfake holding its place for good, which is not what
	// this test is about.
	epochs := func() map[string]int64 {
		keys, err := rdb.Keys(t.Context(), "cxpulse:{p:alerts:*").Result()
		require.NoError(t, err)
		out := map[string]int64{}
		for _, k := range keys {
			e, _ := rdb.HGet(t.Context(), k, "epoch").Int64()
			out[k] = e
		}
		return out
	}
	claimed := func(before map[string]int64) {
		t.Helper()
		require.Eventually(t, func() bool {
			now := epochs()
			if len(now) < 3*4 {
				return false
			}
			for k, e := range now {
				if e <= before[k] {
					return false
				}
			}
			return true
		}, 60*time.Second, 100*time.Millisecond, "every partition claimed")
	}
	p := startProcess(t, bin, "a1", env)
	claimed(nil)
	produce(t, broker, all)
	time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
	p.kill()
	before := epochs()
	p = startProcess(t, bin, "a2", env)
	claimed(before)
	waitApplied(t, p.base)
	firing := func(base string) []*alerts.Alert {
		var list api.AlertList
		require.Equal(t, http.StatusOK, getJSON(t, base+"/v1/tenants/acme/alerts?state=all", &list))
		var out []*alerts.Alert
		for _, al := range list.Alerts {
			if al.Labels["scope"] == "store=s03" {
				out = append(out, al)
			}
		}
		return out
	}
	var first []*alerts.Alert
	require.Eventually(t, func() bool { first = firing(p.base); return len(first) > 0 }, 20*time.Second, 100*time.Millisecond)
	require.Len(t, first, 1)
	require.Equal(t, alerts.Firing, first[0].State)

	// Kill, forget every resume offset and replay everything.
	p.kill()
	keys, err := rdb.Keys(t.Context(), "cxpulse:{p:alerts:*").Result()
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	for _, k := range keys {
		require.NoError(t, rdb.HSet(t.Context(), k, "resume", 0).Err())
	}
	before = epochs()
	p = startProcess(t, bin, "a3", env)
	claimed(before)
	waitApplied(t, p.base)
	// The publisher evaluates a scope's alerts before it publishes the
	// scope: once cx.scores holds the view's latest seq, the store's
	// alerts were evaluated on everything replayed.
	require.Eventually(t, func() bool {
		seq, err := rdb.HGet(t.Context(), "cxpulse:{acme}:scores:store=s03", "seq").Int64()
		return err == nil && latestScores(t, broker)["acme/store=s03"].Seq >= seq
	}, 30*time.Second, 200*time.Millisecond, "store s03 published at its latest seq")
	again := firing(p.base)
	require.Len(t, again, 1)
	require.Equal(t, first[0].Fingerprint, again[0].Fingerprint)
	require.Equal(t, alerts.Firing, again[0].State)
	require.True(t, first[0].StartsAt.Equal(again[0].StartsAt), "startsAt %s, then %s", first[0].StartsAt, again[0].StartsAt)

	// Every notification of the store is that alert, firing, from the same start.
	for _, r := range testenv.Consume(t, broker, "cx.alerts", int(testenv.Count(t, broker, "cx.alerts"))) {
		var nt alerts.Notification
		require.NoError(t, json.Unmarshal(r.Value, &nt))
		if nt.Labels["scope"] != "store=s03" {
			continue
		}
		require.Equal(t, first[0].Fingerprint, nt.Fingerprint)
		require.Equal(t, alerts.Firing, nt.Status)
		require.True(t, first[0].StartsAt.Equal(nt.StartsAt))
	}

	// And the store's counts are exact, at the instant the service
	// computed them (its clock is the Redis server's).
	var got scores.Scores
	require.Equal(t, http.StatusOK, getJSON(t, p.base+"/v1/tenants/acme/scores?scope=store=s03", &got))
	at := time.UnixMilli(got.UpdatedAt)
	final, bad := reference(all, at)
	require.Empty(t, bad)
	want := expected(final["acme"], at, func(ev *events.Event) []string { return []string{"store=" + ev.Dims["store"]} })
	for _, w := range refWindows {
		require.Equal(t, float64(want["store=s03"][w.name].npsN), got.Windows[w.name]["nps_responses"], w.name)
		require.Equal(t, float64(want["store=s03"][w.name].npsD), got.Windows[w.name]["nps_detractors"], w.name)
	}
}

// TestAlertDeliverySurvivesRestart: Alertmanager is down when the spike
// alert fires; the notification waits in Redis, not in memory, so after
// the aggregator restarts and Alertmanager comes back it is delivered.
func TestAlertDeliverySurvivesRestart(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 30, 0, time.UTC)
	_, broker := testenv.Kafka(t, 4, allTopics...)
	rdb, addr := testenv.Redis(t)
	am := &alertmanager{}
	var down atomic.Bool
	down.Store(true)
	amSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		am.ServeHTTP(w, r)
	}))
	defer amSrv.Close()
	env := map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_EMIT_INTERVAL": "200ms", "CXPULSE_ALERTMANAGER_URL": amSrv.URL, "CXPULSE_ALERT_RESEND": "1h"}
	in := startAggregator(t, env, newClock(now))
	baseline, spike := spikeData(now)
	produce(t, broker, append(baseline, spike...))
	waitApplied(t, in.base)
	require.NoError(t, in.agg.PublishOnce(t.Context()))
	queued, err := rdb.LLen(t.Context(), "cxpulse:{acme}:sinkq:alertmanager").Result()
	require.NoError(t, err)
	require.Positive(t, queued, "the notifications wait in Redis")
	in.stop()

	down.Store(false)
	again := startAggregator(t, env, newClock(now))
	require.Eventually(t, func() bool {
		return slices.ContainsFunc(am.received(), func(a map[string]any) bool {
			l := a["labels"].(map[string]any)
			return l["scope"] == "store=s03" && l["severity"] == "critical"
		})
	}, 20*time.Second, 50*time.Millisecond, "the queued alert reaches Alertmanager after the restart")
	require.Eventually(t, func() bool {
		n, err := rdb.LLen(t.Context(), "cxpulse:{acme}:sinkq:alertmanager").Result()
		return err == nil && n == 0
	}, 10*time.Second, 50*time.Millisecond, "delivered notifications leave the queue")
	_ = again
}

// checkBudgetNamed: the tenant's budget of one false alarm a year, over
// all its scopes, adds ln(1.2 × S) to the threshold, and the description
// says so (docs/alerts.md).
func checkBudgetNamed(t *testing.T, base, description string) {
	t.Helper()
	var scopeList api.ScopeList
	require.Equal(t, http.StatusOK, getJSON(t, base+"/v1/tenants/acme/scopes", &scopeList))
	n := len(scopeList.Scopes)
	require.Contains(t, description, fmt.Sprintf("(%.2f of it the tenant's false-alarm budget, shared by its %d scopes)", math.Log(1.2*float64(n)), n))
}
