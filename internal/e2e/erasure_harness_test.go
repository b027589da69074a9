package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/api"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/internal/testseed"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// The customer erased in the tests, and words only their comments use.
const (
	victim      = "vic-4242"
	victimWord1 = "xylophonic"
	victimWord2 = "quibbleware"
)

// erasureHistory is a tenant's traffic around a month boundary: a
// generated purchase history of many customers, their survey answers
// (some with comments) and tickets, and the victim's own events: surveys
// with comments, tickets, purchases (one older than every window but in
// the customer history and the year), a refund, a cancellation, a
// referral another customer converted, and an answer only the year holds.
func erasureHistory(rng *rand.Rand, now time.Time) []events.Event {
	day := 24 * time.Hour
	s := &shop{rng: rng, tenant: "acme", now: now}
	evs := s.history(150, 45*day)
	customers := map[string]bool{}
	for _, ev := range evs {
		customers[ev.CustomerID] = true
	}
	words := []string{"slow delivery", "rude staff", "great coffee", "broken app", "late refund"}
	metrics := []struct {
		m   events.Metric
		max int
	}{{events.MetricNPS, 10}, {events.MetricCSAT, 5}, {events.MetricCES, 7}}
	survey := func(customer string, at time.Time, store int) events.Event {
		e := s.event(events.TypeSurveyResponse, customer, at, store)
		m := metrics[rng.IntN(3)]
		score := rng.IntN(m.max + 1)
		if m.m != events.MetricNPS {
			score = 1 + rng.IntN(m.max)
		}
		e.Survey = &events.Survey{Metric: m.m, Score: score}
		if rng.IntN(3) == 0 {
			e.Survey.Comment = words[rng.IntN(len(words))]
		}
		return e
	}
	for c := range customers {
		for range 1 + rng.IntN(3) {
			evs = append(evs, survey(c, now.Add(-time.Duration(rng.Int64N(int64(40*day)))), rng.IntN(12)))
		}
	}
	for range 200 {
		evs = append(evs, survey("", now.Add(-time.Duration(rng.Int64N(int64(40*day)))), rng.IntN(12)))
	}
	at := func(s string) time.Time { return utc(s) }
	buy := func(id string, when time.Time, store int, amount float64, code string) events.Event {
		e := s.event(events.TypePurchaseCompleted, victim, when, store)
		e.ID = id
		e.Purchase = &events.Purchase{OrderID: "o-" + id, Amount: amount, ReferralCode: code}
		return e
	}
	v := []events.Event{
		buy("v-p0", at("2026-06-10T09:00:00Z"), 3, 19.5, ""),
		buy("v-p1", at("2026-11-20T10:00:00Z"), 3, 120, ""),
		buy("v-p2", at("2026-11-29T16:30:00Z"), 5, 42.25, ""),
		buy("v-p3", at("2026-12-01T08:00:00Z"), 3, 15, ""),
	}
	refund := s.event(events.TypePurchaseRefunded, victim, at("2026-12-01T12:00:00Z"), 3)
	refund.ID, refund.Purchase = "v-r1", &events.Purchase{OrderID: "o-v-p3", Amount: 15}
	sent := s.event(events.TypeReferralSent, victim, at("2026-11-21T09:00:00Z"), 3)
	sent.ID, sent.Referral = "v-ref", &events.Referral{Code: "VIC-CODE", ReferrerID: victim}
	cancel := s.event(events.TypeSubscriptionCancelled, victim, at("2026-12-02T18:00:00Z"), 5)
	cancel.ID = "v-x1"
	answers := []events.Event{
		s.event(events.TypeSurveyResponse, victim, at("2026-12-03T10:00:00Z"), 3),
		s.event(events.TypeSurveyResponse, victim, at("2026-11-30T22:00:00Z"), 5),
		s.event(events.TypeSurveyResponse, victim, at("2026-03-01T12:00:00Z"), 3), // in the year only
	}
	answers[0].ID, answers[0].Survey = "v-s1", &events.Survey{Metric: events.MetricNPS, Score: 1,
		Comment: "The " + victimWord1 + " checkout is " + victimWord2}
	answers[1].ID, answers[1].Survey = "v-s2", &events.Survey{Metric: events.MetricCSAT, Score: 2, Comment: victimWord2 + " again"}
	answers[2].ID, answers[2].Survey = "v-s3", &events.Survey{Metric: events.MetricNPS, Score: 4}
	opened := s.event(events.TypeTicketOpened, victim, at("2026-12-02T09:00:00Z"), 3)
	opened.ID, opened.Ticket = "v-t1", &events.Ticket{TicketID: "T-V"}
	resolved := s.event(events.TypeTicketResolved, victim, at("2026-12-02T15:00:00Z"), 3)
	resolved.ID, resolved.Ticket = "v-t2", &events.Ticket{TicketID: "T-V", FirstResponseSeconds: ptr(600.0), HandleSeconds: ptr(3600.0)}
	// A new customer converted by the victim's code.
	friend := s.event(events.TypePurchaseCompleted, "friend-1", at("2026-11-25T11:00:00Z"), 7)
	friend.Purchase = &events.Purchase{OrderID: "o-friend", Amount: 60, ReferralCode: "VIC-CODE"}
	v = append(v, refund, sent, cancel, opened, resolved, friend)
	return append(append(evs, v...), answers...)
}

func ptr[T any](v T) *T { return &v }

// withoutCustomer returns the final events but the customer's.
func withoutCustomer(final map[string]*events.Event, customer string) map[string]*events.Event {
	out := map[string]*events.Event{}
	for id, ev := range final {
		if ev.CustomerID != customer {
			out[id] = ev
		}
	}
	return out
}

// erasureScopes are the scopes of the erasure tests' events.
func erasureScopes(ev *events.Event) []string {
	return []string{"all", "store=" + ev.Dims["store"], "region=" + ev.Dims["region"], "channel=" + ev.Dims["channel"]}
}

// erasureRun is an aggregator that applied erasureHistory.
type erasureRun struct {
	in     *instance
	rdb    *redis.Client
	broker string
	addr   string
	clk    *clock
	msgs   []msg
	final  map[string]*events.Event // acme's counted events
}

// runErasureHistory starts an aggregator at now (with env besides Kafka
// and Redis), sends it erasureHistory from the seed's stream in a shuffled
// order and waits until it applied everything.
func runErasureHistory(t *testing.T, now time.Time, stream uint64, env map[string]string) *erasureRun {
	t.Helper()
	seed := testseed.New(t)
	rng := rand.New(rand.NewPCG(seed, stream))
	r := &erasureRun{clk: newClock(now)}
	_, r.broker = testenv.Kafka(t, 4, allTopics...)
	r.rdb, r.addr = testenv.Redis(t)
	env["CXPULSE_KAFKA_BROKERS"], env["CXPULSE_REDIS_URL"] = r.broker, "redis://"+r.addr
	r.in = startAggregator(t, env, r.clk)
	for _, ev := range erasureHistory(rng, now) {
		r.msgs = append(r.msgs, eventMsg(ev))
	}
	rng.Shuffle(len(r.msgs), func(i, j int) { r.msgs[i], r.msgs[j] = r.msgs[j], r.msgs[i] })
	produce(t, r.broker, r.msgs)
	waitApplied(t, r.in.base)
	final, _ := reference(r.msgs, now)
	r.final = final["acme"]
	return r
}

// checkErasedFigures compares acme's scores, calendar periods and
// advocates with the reference of its final events.
func checkErasedFigures(t *testing.T, base string, final map[string]*events.Event, now time.Time) {
	t.Helper()
	c := refCal{time.UTC, false, time.Monday}
	periods := []refPeriod{c.month(2026, 11), c.month(2026, 12), c.month(2026, 6), c.month(2026, 3), c.year(2026),
		c.day(utc("2026-12-03T10:00:00Z")), c.week(utc("2026-11-30T22:00:00Z")), c.quarter(2026, 4)}
	checkAllScores(t, base, "acme", expected(final, now, erasureScopes))
	for _, p := range periods {
		for _, scope := range []string{"all", "store=s03", "store=s05"} {
			var ans struct{ Stats map[string]float64 }
			require.Equal(t, http.StatusOK, getJSON(t, base+"/v1/tenants/acme/periods?scope="+scope+"&period="+p.name, &ans), p.name)
			for stat, v := range refPeriodStats(final, scope, p.from, p.to) {
				require.InDelta(t, v, ans.Stats[stat], 1e-9*max(1, v), "%s %s %s", scope, p.name, stat)
			}
		}
	}
	for _, w := range refWindows {
		var got api.AdvocateList
		require.Equal(t, http.StatusOK, getJSON(t, base+"/v1/tenants/acme/advocates?limit=1000&window="+w.name, &got))
		require.Equal(t, refAdvocates(final, w, now), got.Advocates, "advocates in %s", w.name)
	}
}

// plantQuotedAlert stores, as an alert sent earlier today would have, an
// alert quoting the victim's comment and words next to another
// customer's, and its notification still queued for a sink that is down.
func plantQuotedAlert(t *testing.T, rdb *redis.Client, now time.Time) {
	t.Helper()
	victimComment := "The " + victimWord1 + " checkout is " + victimWord2
	quoted := alerts.Alert{Fingerprint: "f00d", Labels: alerts.Labels("acme", "all", alerts.Warning), State: alerts.Resolved,
		ActiveAt: now.Add(-3 * time.Hour), StartsAt: now.Add(-3 * time.Hour), EndsAt: now.Add(-time.Hour), LastAbove: now.Add(-2 * time.Hour),
		SentResolved: true, Annotations: map[string]string{"comment_1": victimComment, "comment_2": "slow delivery", "n_detractors": "7",
			"top_terms": fmt.Sprintf(`[{"term":%q,"z":4,"count":3},{"term":"slow","z":3,"count":3}]`, victimWord1),
			"summary":   "Detractor share at all of acme is 40.0% over 24h, baseline 10.0%; detractors mention " + victimWord1 + ", slow"}}
	b, err := json.Marshal(&quoted)
	require.NoError(t, err)
	require.NoError(t, rdb.HSet(t.Context(), "cxpulse:{acme}:alerts", "f00d", b).Err())
	// Its notification still waits for a sink that is down.
	queued := alerts.Notification{Status: alerts.Firing, Labels: quoted.Labels, Annotations: quoted.Annotations, StartsAt: quoted.StartsAt,
		EndsAt: quoted.EndsAt, Fingerprint: "f00d"}
	nb, err := json.Marshal(&queued)
	require.NoError(t, err)
	require.NoError(t, rdb.RPush(t.Context(), "cxpulse:{acme}:sinkq:pagerduty", `{"status":"firing","fingerprint":"other"}`, nb).Err())
}
