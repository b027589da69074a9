package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/api"
	"github.com/cxpulse/cxpulse/internal/digest"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// receiver records what is posted to it, by path.
type receiver struct {
	mu    sync.Mutex
	posts map[string][]post
}

type post struct {
	body   []byte
	header http.Header
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.posts[r.URL.Path] = append(rc.posts[r.URL.Path], post{b, r.Header.Clone()})
	rc.mu.Unlock()
}

func (rc *receiver) at(path string) []post {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]post(nil), rc.posts[path]...)
}

// digestsAt returns the digests posted to path, leaving out the alert
// notifications the same webhook gets (they arrive whenever the sink's
// delivery loop sends them).
func (rc *receiver) digestsAt(path string) []post {
	var out []post
	for _, p := range rc.at(path) {
		var head struct{ Kind string }
		if json.Unmarshal(p.body, &head) == nil && head.Kind == "cxpulse.digest" {
			out = append(out, p)
		}
	}
	return out
}

// TestDigest: a tenant in Berlin with a daily digest gets, once its day has
// closed, one digest of it at the webhook (signed, with an event id) and
// one Slack message; its scores, margins, significant changes against
// the day before, alerts and top terms equal a reference computed here
// from the events sent; another round sends nothing more.
func TestDigest(t *testing.T) {
	ber, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	spikeEnd := time.Date(2026, 11, 22, 20, 0, 0, 0, ber) // the burst's last six hours end here
	clk := newClock(spikeEnd)
	_, broker := testenv.Kafka(t, 4, allTopics...)
	_, addr := testenv.Redis(t)
	rc := &receiver{posts: map[string][]post{}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	tenantsFile := writeTenants(t, "tenants:\n  acme: {timezone: Europe/Berlin, digest: daily}\n")
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_TENANTS_FILE": tenantsFile, "CXPULSE_EMIT_INTERVAL": "1h", "CXPULSE_ALERT_WEBHOOK_URL": srv.URL + "/hook",
		"CXPULSE_ALERT_WEBHOOK_SECRET": "s3cret", "CXPULSE_DIGEST_SLACK_URL": srv.URL + "/slack"}, clk)

	baseline, spike := spikeData(spikeEnd)
	msgs := append(baseline, spike...)
	for i := range 300 { // promoters who say what they like, all that day
		msgs = append(msgs, eventMsg(events.Event{ID: fmt.Sprintf("praise-%d", i), Type: events.TypeSurveyResponse, Tenant: "acme",
			OccurredAt: spikeEnd.Add(-time.Duration(i) * 4 * time.Minute).UTC(), Dims: map[string]string{"store": "s01", "region": "us", "channel": "web"},
			Survey: &events.Survey{Metric: events.MetricNPS, Score: 10, Comment: "great service, fast delivery"}}))
	}
	produce(t, broker, msgs)
	waitApplied(t, in.base)
	require.NoError(t, in.agg.PublishOnce(t.Context())) // the burst alerts, on the 22nd

	// The 22nd is under way: nothing is due for it; the 21st's digest is.
	require.NoError(t, in.agg.DigestOnce(t.Context()))
	require.Len(t, rc.digestsAt("/hook"), 1)
	var first digest.Digest
	require.NoError(t, json.Unmarshal(rc.digestsAt("/hook")[0].body, &first))
	require.Equal(t, "day:2026-11-21", first.Period)

	// Half an hour into the 23rd in Berlin, the 22nd's digest goes out.
	clk.set(time.Date(2026, 11, 23, 0, 30, 0, 0, ber))
	require.NoError(t, in.agg.DigestOnce(t.Context()))
	require.NoError(t, in.agg.DigestOnce(t.Context()))
	hooks, slack := rc.digestsAt("/hook"), rc.at("/slack")
	require.Len(t, hooks, 2, "one digest a day")
	require.Len(t, slack, 2)

	got := hooks[1]
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write(got.body)
	require.Equal(t, "sha256="+hex.EncodeToString(mac.Sum(nil)), got.header.Get(alerts.SignatureHeader))
	require.NotEmpty(t, got.header.Get(alerts.EventIDHeader))
	var d digest.Digest
	require.NoError(t, json.Unmarshal(got.body, &d))

	// The reference: the 22nd and the 21st in Berlin, from the events sent.
	day := func(y, m, dd int) (time.Time, time.Time) {
		return time.Date(y, time.Month(m), dd, 0, 0, 0, 0, ber), time.Date(y, time.Month(m), dd+1, 0, 0, 0, 0, ber)
	}
	from, to := day(2026, 11, 22)
	pfrom, pto := day(2026, 11, 21)
	var sent []*events.Event
	for _, m := range msgs {
		sent = append(sent, m.ev)
	}
	this, prev := npsOf(sent, from, to), npsOf(sent, pfrom, pto)
	require.Equal(t, "cxpulse.digest", d.Kind)
	require.Equal(t, 1, d.Version)
	require.Equal(t, "acme", d.Tenant)
	require.Equal(t, "daily", d.Cadence)
	require.Equal(t, "day:2026-11-22", d.Period)
	require.Equal(t, "day:2026-11-21", d.ComparedWith)
	require.Equal(t, from.Format(time.RFC3339), d.From)
	require.Equal(t, to.Format(time.RFC3339), d.To)
	require.Equal(t, "Europe/Berlin", d.Timezone)
	for name, want := range map[string]float64{"nps_responses": this.n, "nps": this.nps(), "nps_moe95": this.moe(), "detractor_share": 100 * this.d / this.n} {
		require.InDelta(t, want, d.Stats[name], 1e-9, name)
	}
	require.InDelta(t, prev.nps(), d.Previous["nps"], 1e-9)
	// Significant at 95 %: NPS by its own variance, the detractor share by
	// the pooled two-proportion test.
	var changes []digest.Change
	if z := (this.nps() - prev.nps()) / math.Sqrt(this.npsVar()+prev.npsVar()); math.Abs(z) > 1.959964 {
		changes = append(changes, digest.Change{Stat: "nps", Value: this.nps(), Previous: prev.nps(), Delta: this.nps() - prev.nps()})
	}
	pool := (this.d + prev.d) / (this.n + prev.n)
	if z := (this.d/this.n - prev.d/prev.n) / math.Sqrt(pool*(1-pool)*(1/this.n+1/prev.n)); math.Abs(z) > 1.959964 {
		changes = append(changes, digest.Change{Stat: "detractor_share", Value: 100 * this.d / this.n, Previous: 100 * prev.d / prev.n,
			Delta: 100 * (this.d/this.n - prev.d/prev.n)})
	}
	require.NotEmpty(t, changes, "the burst day differs")
	require.Len(t, d.Changes, len(changes))
	for i, c := range changes {
		require.Equal(t, c.Stat, d.Changes[i].Stat)
		require.InDelta(t, c.Value, d.Changes[i].Value, 1e-9)
		require.InDelta(t, c.Previous, d.Changes[i].Previous, 1e-9)
		require.InDelta(t, c.Delta, d.Changes[i].Delta, 1e-9)
	}
	// The one alert of the day: the burst's store, naming what it explains.
	require.Len(t, d.Alerts, 1)
	require.Equal(t, "store=s03", d.Alerts[0].Scope)
	require.Equal(t, "critical", d.Alerts[0].Severity)
	require.True(t, d.Alerts[0].StartsAt.Equal(spikeEnd), "fired at %s", d.Alerts[0].StartsAt)
	require.Contains(t, d.Alerts[0].AlsoAffects, "region=eu")
	var list api.AlertList
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/alerts?state=all", &list))
	require.Len(t, list.Alerts, 1)
	require.Equal(t, list.Alerts[0].AlsoAffects, d.Alerts[0].AlsoAffects, "as the alerts API has it")
	terms, _ := refTopTerms(sent, "all", func(at time.Time) bool { return !at.Before(from) && at.Before(to) })
	require.Equal(t, terms, d.TopTerms)
	require.NotEmpty(t, terms)
	require.Contains(t, d.Text, "*cxpulse daily digest of acme: day:2026-11-22* (Europe/Berlin)")
	require.Contains(t, d.Text, "store=s03 critical")

	var msg struct {
		Text   string         `json:"text"`
		Blocks []digest.Block `json:"blocks"`
	}
	require.NoError(t, json.Unmarshal(slack[1].body, &msg))
	require.Equal(t, d.Text, msg.Text)
	require.Len(t, msg.Blocks, 1)
	require.Equal(t, d.Text, msg.Blocks[0].Text.Text)
	t.Logf("digest:\n%s", d.Text)
}

// npsCounts are the NPS answers of a span.
type npsCounts struct{ n, p, d float64 }

func npsOf(sent []*events.Event, from, to time.Time) npsCounts {
	var c npsCounts
	for _, ev := range sent {
		if ev.Survey == nil || ev.Survey.Metric != events.MetricNPS || ev.OccurredAt.Before(from) || !ev.OccurredAt.Before(to) {
			continue
		}
		c.n++
		switch s := ev.Survey.Score; {
		case s >= 9:
			c.p++
		case s <= 6:
			c.d++
		}
	}
	return c
}

func (c npsCounts) nps() float64 { return 100 * (c.p - c.d) / c.n }

// npsVar is the variance of the NPS estimate, in points².
func (c npsCounts) npsVar() float64 {
	P, D := c.p/c.n, c.d/c.n
	return 100 * 100 * (P + D - (P-D)*(P-D)) / c.n
}

// moe is docs/metrics.md's nps_moe95 (1.96 × the standard error).
func (c npsCounts) moe() float64 { return 1.96 * math.Sqrt(c.npsVar()) }
