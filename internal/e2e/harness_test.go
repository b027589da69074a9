package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

var inputTopics = []string{"cx.surveys", "cx.tickets", "cx.purchases"}
var allTopics = append(slices.Clone(inputTopics), "cx.scores", "cx.alerts", "cx.deadletter")

// clock is a settable clock for the aggregator under test.
type clock struct{ ms atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}
func (c *clock) set(t time.Time)     { c.ms.Store(t.UnixMilli()) }
func (c *clock) now() time.Time      { return time.UnixMilli(c.ms.Load()).UTC() }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

// msg is one produced message and what the reference expects of it.
type msg struct {
	topic string
	key   []byte
	value []byte
	ev    *events.Event // nil for bytes that are not an event
	// erase, instead of a message, marks an erasure made once every
	// message before it was applied.
	erase *erasureMark
}

func eventMsg(ev events.Event) msg {
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	return msg{topic: ev.Topic("cx."), key: []byte(ev.Key()), value: b, ev: &ev}
}

// produce writes msgs in order and returns the cxpulse-source of each.
func produce(t *testing.T, broker string, msgs []msg) []string {
	t.Helper()
	out, err := tryProduce(broker, msgs)
	require.NoError(t, err)
	return out
}

// tryProduce writes msgs in order and returns the cxpulse-source of each,
// or the first error.
func tryProduce(broker string, msgs []msg) ([]string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MaxBufferedRecords(100000))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		recs[i] = &kgo.Record{Topic: m.topic, Key: m.key, Value: m.value}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return nil, err
	}
	// Results come in completion order; the records themselves carry
	// their partition and offset.
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)
	}
	return out, nil
}

// deadLetterSources reads the dead-letter topic and returns the distinct
// cxpulse-source headers with their reason.
func deadLetterSources(t *testing.T, broker string) map[string]string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics("cx.deadletter"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	out := map[string]string{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		if len(fs.Records()) == 0 {
			return out
		}
		for _, r := range fs.Records() {
			var src, reason string
			for _, h := range r.Headers {
				switch h.Key {
				case "cxpulse-source":
					src = string(h.Value)
				case "cxpulse-error":
					reason = string(h.Value)
				}
			}
			out[src] = reason
		}
	}
}

// getText GETs url and returns its body, whatever the status.
func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// getJSON GETs url and decodes a 200 answer into v.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	return getJSONWithKey(t, url, "", v)
}

// getJSONWithKey is getJSON sending key as a bearer token.
func getJSONWithKey(t *testing.T, url, key string, v any) int {
	t.Helper()
	return requestJSON(t, http.MethodGet, url, key, v)
}

// requestJSON sends a request with method to url (with key as the bearer
// token unless ""), decodes a 200 answer into v and returns the status.
func requestJSON(t *testing.T, method, url, key string, v any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
	}
	return resp.StatusCode
}

// waitApplied waits until /v1/status reports lag 0.
func waitApplied(t *testing.T, base string) {
	t.Helper()
	require.Eventually(t, func() bool {
		var st struct{ Lag int64 }
		return getJSON(t, base+"/v1/status", &st) == http.StatusOK && st.Lag == 0
	}, 90*time.Second, 50*time.Millisecond, "lag did not reach 0")
}

// --- The reference: docs/events.md, docs/metrics.md and docs/windows.md computed directly. ---

type refCounts struct {
	npsN, npsP, npsD, csatN, csatSat, cesN, cesEasy int
	csatSum, cesSum                                 float64
	open, res, reop, frN, hN                        int
	frSum, hSum                                     float64
	commerce                                        map[string]float64
}

func (r *refCounts) add(ev *events.Event) {
	switch {
	case ev.Survey != nil:
		s := ev.Survey
		switch s.Metric {
		case events.MetricNPS:
			r.npsN++
			if s.Score >= 9 {
				r.npsP++
			}
			if s.Score <= 6 {
				r.npsD++
			}
		case events.MetricCSAT:
			r.csatN++
			r.csatSum += float64(s.Score)
			if s.Score >= 4 {
				r.csatSat++
			}
		case events.MetricCES:
			r.cesN++
			r.cesSum += float64(s.Score)
			if s.Score >= 5 {
				r.cesEasy++
			}
		}
	case ev.Type == events.TypeTicketOpened:
		r.open++
	case ev.Type == events.TypeTicketReopened:
		r.reop++
	case ev.Type == events.TypeTicketResolved:
		r.res++
		if v := ev.Ticket.FirstResponseSeconds; v != nil {
			r.frN++
			r.frSum += *v
		}
		if v := ev.Ticket.HandleSeconds; v != nil {
			r.hN++
			r.hSum += *v
		}
	}
}

func (r *refCounts) stats() map[string]float64 {
	out := map[string]float64{
		"nps_responses": float64(r.npsN), "nps_promoters": float64(r.npsP), "nps_detractors": float64(r.npsD),
		"nps_passives": float64(r.npsN - r.npsP - r.npsD), "csat_responses": float64(r.csatN), "csat_satisfied": float64(r.csatSat),
		"ces_responses": float64(r.cesN), "ces_easy": float64(r.cesEasy),
		"tickets_opened": float64(r.open), "tickets_resolved": float64(r.res), "tickets_reopened": float64(r.reop),
	}
	for k, v := range r.commerce {
		out[k] = v
	}
	if n := float64(r.npsN); n > 0 {
		p, d := float64(r.npsP)/n, float64(r.npsD)/n
		out["nps"] = 100 * (p - d)
		out["nps_moe95"] = 1.96 * 100 * math.Sqrt(((p+d)-(p-d)*(p-d))/n)
		out["detractor_share"] = 100 * d
	}
	if r.csatN > 0 {
		out["csat"] = 100 * float64(r.csatSat) / float64(r.csatN)
		out["csat_mean"] = r.csatSum / float64(r.csatN)
	}
	if r.cesN > 0 {
		out["ces"] = r.cesSum / float64(r.cesN)
		out["ces_easy_share"] = 100 * float64(r.cesEasy) / float64(r.cesN)
	}
	if r.frN > 0 {
		out["ticket_first_response_avg_s"] = r.frSum / float64(r.frN)
	}
	if r.hN > 0 {
		out["ticket_handle_avg_s"] = r.hSum / float64(r.hN)
	}
	if r.res > 0 {
		out["ticket_reopen_rate"] = 100 * float64(r.reop) / float64(r.res)
	}
	return out
}

// refWindow is a window as docs/windows.md states it.
type refWindow struct {
	name           string
	length, bucket time.Duration
}

var refWindows = []refWindow{
	{"1h", time.Hour, 2 * time.Minute}, {"24h", 24 * time.Hour, time.Hour}, {"7d", 7 * 24 * time.Hour, 6 * time.Hour},
	{"30d", 30 * 24 * time.Hour, 24 * time.Hour}, {"90d", 90 * 24 * time.Hour, 72 * time.Hour},
}

// in reports whether an event at t counts in w at now: its epoch-aligned
// bucket starts after now − W and no later than now + 5m.
func (w refWindow) in(t, now time.Time) bool {
	ms, b := t.UnixMilli(), w.bucket.Milliseconds()
	start := time.UnixMilli(ms - ((ms%b)+b)%b)
	return start.After(now.Add(-w.length)) && !start.After(now.Add(5*time.Minute))
}

// refPeriodsOnly marks the purchases and cancellations that counted only
// in calendar periods: older than the customer-state horizon when they
// arrived, they never joined their customer's activity (a purchase may
// still be the customer's first: docs/metrics.md).
var refPeriodsOnly = map[*events.Event]bool{}

// refRetainedFrom is the start of the oldest calendar period kept at now
// for a tenant on UTC and the Gregorian calendar: the previous year's.
func refRetainedFrom(now time.Time) time.Time {
	return time.Date(now.Year()-1, time.January, 1, 0, 0, 0, 0, time.UTC)
}

// expected sums the final events per scope and window.
func expected(final map[string]*events.Event, now time.Time, scopesOf func(*events.Event) []string) map[string]map[string]*refCounts {
	out := map[string]map[string]*refCounts{}
	for _, ev := range final {
		for _, sc := range scopesOf(ev) {
			if out[sc] == nil {
				out[sc] = map[string]*refCounts{}
				for _, w := range refWindows {
					out[sc][w.name] = &refCounts{}
				}
			}
			for _, w := range refWindows {
				if w.in(ev.OccurredAt, now) {
					out[sc][w.name].add(ev)
				}
			}
		}
	}
	var tenant string
	for _, ev := range final {
		tenant = ev.Tenant
		break
	}
	histories := map[string]*events.Event{}
	for id, ev := range final {
		if !refPeriodsOnly[ev] || ev.Type == events.TypePurchaseCompleted {
			histories[id] = ev
		}
	}
	for sc, ws := range refCommerce(histories, now, inactivityOf(tenant), scopesOf) {
		for w, m := range ws {
			out[sc][w].commerce = m
		}
	}
	return out
}

// refInexact are the stats compared within 1e-9: ratios, means and the
// revenue (a sum of decimal amounts); every other stat is a count and
// compared exactly.
var refInexact = map[string]bool{
	"nps": true, "nps_moe95": true, "detractor_share": true, "csat": true, "csat_mean": true, "ces": true,
	"ces_easy_share": true, "ticket_first_response_avg_s": true, "ticket_handle_avg_s": true, "ticket_reopen_rate": true,
	"revenue": true, "atv": true, "repeat_purchase_rate": true, "referral_conversion_rate": true,
	"referral_new_customer_share": true, "churn_rate": true, "retention_rate": true, "clv": true,
}

// compareScores checks one scope's API answer against the reference:
// counts exactly, ratios within 1e-9, absent ratios absent.
func compareScores(t *testing.T, got scores.Scores, want map[string]*refCounts) {
	t.Helper()
	for _, w := range refWindows {
		exp := want[w.name].stats()
		gotW := got.Windows[w.name]
		keys := func(m map[string]float64) []string {
			var k []string
			for s := range m {
				k = append(k, s)
			}
			sort.Strings(k)
			return k
		}
		require.Equal(t, keys(exp), keys(gotW), "stats of %s %s", got.Scope, w.name)
		require.Len(t, got.Windows, len(refWindows), "windows of %s", got.Scope)
		for stat, v := range exp {
			g := gotW[stat]
			if !refInexact[stat] {
				require.Equal(t, v, g, "%s %s %s", got.Scope, w.name, stat)
				continue
			}
			require.InDelta(t, v, g, 1e-9*math.Max(1, math.Abs(v)), "%s %s %s", got.Scope, w.name, stat)
		}
	}
}

// generator makes events of two tenants, 24 stores, all survey and ticket
// types, spread over ~95 days before now.
type generator struct {
	rng *rand.Rand
	now time.Time
	seq int
}

func (g *generator) when() time.Time {
	r := g.rng.Float64()
	var back time.Duration
	switch {
	case r < 0.35:
		back = time.Duration(g.rng.Int64N(int64(time.Hour)))
	case r < 0.55:
		back = time.Duration(g.rng.Int64N(int64(24 * time.Hour)))
	case r < 0.75:
		back = time.Duration(g.rng.Int64N(int64(30 * 24 * time.Hour)))
	case r < 0.95:
		back = time.Duration(g.rng.Int64N(int64(90 * 24 * time.Hour)))
	default: // around the edge of the 90d window, some too late
		back = 87*24*time.Hour + time.Duration(g.rng.Int64N(int64(8*24*time.Hour)))
	}
	return g.now.Add(-back).Truncate(time.Millisecond)
}

func (g *generator) event(tenant string) events.Event {
	g.seq++
	store := g.rng.IntN(24)
	ev := events.Event{
		ID: fmt.Sprintf("e-%d", g.seq), Tenant: tenant, OccurredAt: g.when(),
		CustomerID: fmt.Sprintf("c%d", g.rng.IntN(300)),
		Dims: map[string]string{"store": fmt.Sprintf("s%02d", store), "region": []string{"eu", "us", "apac"}[store%3],
			"channel": []string{"web", "app", "store"}[g.rng.IntN(3)]},
	}
	switch r := g.rng.IntN(10); {
	case r < 3:
		ev.Type, ev.Survey = events.TypeSurveyResponse, &events.Survey{Metric: events.MetricNPS, Score: g.rng.IntN(11)}
	case r < 5:
		ev.Type, ev.Survey = events.TypeSurveyResponse, &events.Survey{Metric: events.MetricCSAT, Score: 1 + g.rng.IntN(5)}
	case r < 6:
		ev.Type, ev.Survey = events.TypeSurveyResponse, &events.Survey{Metric: events.MetricCES, Score: 1 + g.rng.IntN(7), Comment: "ok"}
	default:
		ev.Dims["agent"] = []string{"ana", "bo", "chen"}[g.rng.IntN(3)]
		ev.Ticket = &events.Ticket{TicketID: fmt.Sprintf("T-%d", g.rng.IntN(1000))}
		switch g.rng.IntN(3) {
		case 0:
			ev.Type = events.TypeTicketOpened
		case 1:
			ev.Type = events.TypeTicketReopened
		default:
			ev.Type = events.TypeTicketResolved
			if g.rng.IntN(4) > 0 {
				fr := float64(g.rng.IntN(3600000)) / 1000
				ev.Ticket.FirstResponseSeconds = &fr
			}
			if g.rng.IntN(4) > 0 {
				h := float64(g.rng.IntN(7200))
				ev.Ticket.HandleSeconds = &h
			}
		}
	}
	return ev
}

// checkScores reads every scope of want from the API and compares it.
func checkScores(t *testing.T, base, tenant string, want map[string]map[string]*refCounts) {
	t.Helper()
	for scope, w := range want {
		var got scores.Scores
		require.Equal(t, http.StatusOK, getJSON(t, base+"/v1/tenants/"+tenant+"/scores?scope="+scope, &got), scope)
		compareScores(t, got, w)
	}
}

// checkAllScores is checkScores over every scope the service reports, for
// a want that names every scope the events have: each scope of want is
// reported, and a scope want lacks (one every event left, by revision or
// erasure) holds nothing: every count 0, no ratio.
func checkAllScores(t *testing.T, base, tenant string, want map[string]map[string]*refCounts) {
	t.Helper()
	checkScores(t, base, tenant, want)
	var list struct{ Scopes []string }
	require.Equal(t, http.StatusOK, getJSON(t, base+"/v1/tenants/"+tenant+"/scopes", &list))
	for scope := range want {
		require.Contains(t, list.Scopes, scope, "scopes of %s", tenant)
	}
	extra := 0
	defer func() { t.Logf("%s: %d scopes compared, %d more reported and empty", tenant, len(want), extra) }()
	for _, scope := range list.Scopes {
		if want[scope] != nil {
			continue
		}
		extra++
		var got scores.Scores
		require.Equal(t, http.StatusOK, getJSON(t, base+"/v1/tenants/"+tenant+"/scores?scope="+scope, &got), scope)
		for w, stats := range got.Windows {
			for stat, v := range stats {
				require.Zero(t, v, "%s of %s holds no event: %s %s", scope, tenant, w, stat)
			}
		}
	}
}

// browser starts headless Chromium with a window of w × h pixels and
// returns a context for chromedp that ends after timeout or with the test.
func browser(t *testing.T, chromium string, w, h int, timeout time.Duration) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(w, h))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// writeTenants writes a tenants file holding body and returns its path.
func writeTenants(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tenants.yaml")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}
