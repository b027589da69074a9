package e2e

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/api"
	"github.com/cxpulse/cxpulse/internal/erasure"
	"github.com/cxpulse/cxpulse/internal/router"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/internal/testseed"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// TestModel is the differential test of the aggregator against the
// reference model (reference_test.go, harness_test.go): for several seeds
// (CXPULSE_TEST_SEED fixes the first, CXPULSE_MODEL_SEEDS how many, 3 by
// default) a random stream of two tenants (answers, tickets, a purchase
// history with referrals and cancellations) with repeats, revisions,
// conflicting and too-late revisions, events ahead and malformed bytes
// runs through two aggregators of one group, one of which leaves mid-way
// (a rebalance) and a third joins; the clock moves between phases; two
// customers are erased and send events again after. At the end every stat
// of every window and scope, calendar periods, the advocates and every
// dead letter are compared with the model.
func TestModel(t *testing.T) {
	if testing.Short() {
		t.Skip("runs several seeds of a full stream")
	}
	runs := 3
	if v := os.Getenv("CXPULSE_MODEL_SEEDS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "CXPULSE_MODEL_SEEDS")
		runs = n
	}
	first := testseed.New(t)
	for i := range runs {
		seed := first + uint64(i)
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) { modelRun(t, seed, nil) })
	}
}

// TestModelRouted is TestModel's stream with routing by tenant
// (CXPULSE_ROUTE_BY_TENANT): the routers forward the input topics to the
// tenant-keyed topic and the pipelines apply from there, through the same
// member leaving, joining and erasures; every figure and dead letter
// (named by its input position) is the model's.
func TestModelRouted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a full stream")
	}
	broker, sent := modelRun(t, testseed.New(t), map[string]string{"CXPULSE_ROUTE_BY_TENANT": "1"})
	require.GreaterOrEqual(t, testenv.Count(t, broker, router.Topic("cx.")), int64(sent), "every input record went through the tenant-keyed topic")
}

// modelStream is a stream being built and sent, with what the model needs
// of it.
type modelStream struct {
	t       *testing.T
	rng     *rand.Rand
	broker  string
	clk     *clock
	all     []msg
	sources []string
	nows    []time.Time
	sent    []events.Event
}

// send produces msgs and records them, judged at the clock's instant.
func (s *modelStream) send(msgs []msg) {
	s.t.Helper()
	s.sources = append(s.sources, produce(s.t, s.broker, msgs)...)
	for range msgs {
		s.nows = append(s.nows, s.clk.now())
	}
	s.all = append(s.all, msgs...)
}

// erase erases customer of tenant through base's API, once everything
// sent is applied, and records the erasure.
func (s *modelStream) erase(base, tenant, customer string) erasure.Receipt {
	s.t.Helper()
	waitApplied(s.t, base)
	var rec erasure.Receipt
	require.Equal(s.t, http.StatusOK, requestJSON(s.t, http.MethodDelete, base+"/v1/tenants/"+tenant+"/customers/"+customer, "", &rec))
	s.all = append(s.all, msg{erase: &erasureMark{tenant: tenant, customer: customer, at: s.clk.now()}})
	s.sources = append(s.sources, "")
	s.nows = append(s.nows, s.clk.now())
	return rec
}

// changes returns repeats, revisions (new score, store and time),
// conflicting revisions and too-late revisions of earlier events.
func (s *modelStream) changes(n int, now time.Time) []msg {
	var out []msg
	for range n {
		ev := s.sent[s.rng.IntN(len(s.sent))]
		switch s.rng.IntN(6) {
		case 0, 1: // a repeat
		case 2, 3: // a revision
			ev.Revision += 1 + int64(s.rng.IntN(2))
			if ev.Survey != nil {
				sv := *ev.Survey
				lo, hi, _ := sv.Metric.Range()
				sv.Score = lo + s.rng.IntN(hi-lo+1)
				ev.Survey = &sv
			}
			if ev.Purchase != nil {
				p := *ev.Purchase
				p.Amount = float64(s.rng.IntN(30000)) / 100
				ev.Purchase = &p
			}
			store := s.rng.IntN(12)
			ev.Dims = map[string]string{"store": fmt.Sprintf("s%02d", store), "region": []string{"eu", "us", "apac"}[store%3], "channel": "web"}
			ev.OccurredAt = now.Add(-time.Duration(s.rng.Int64N(int64(40 * 24 * time.Hour)))).Truncate(time.Millisecond)
		case 4: // another type
			ev.Revision += 5
			if ev.Type == events.TypeSurveyResponse {
				ev.Type, ev.Survey, ev.Ticket = events.TypeTicketOpened, nil, &events.Ticket{TicketID: "T-x"}
			} else {
				ev.Type, ev.Ticket, ev.Survey, ev.Purchase = events.TypeSurveyResponse, nil, &events.Survey{Metric: events.MetricNPS, Score: 5}, nil
			}
		case 5: // too late
			ev.Revision += 7
			ev.OccurredAt = now.AddDate(-2, 0, 0)
		}
		out = append(out, eventMsg(ev))
	}
	return out
}

// modelRun runs one seed with the aggregators' extra settings and returns
// the broker and how many messages were produced.
func modelRun(t *testing.T, seed uint64, extra map[string]string) (broker string, produced int) {
	rng := rand.New(rand.NewPCG(seed, 40))
	now := time.Date(2026, 11, 22, 12, 0, 30, 0, time.UTC)
	clk := newClock(now)
	_, broker = testenv.Kafka(t, 4, allTopics...)
	_, addr := testenv.Redis(t)
	env := func() map[string]string {
		vars := map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr, "CXPULSE_EMIT_INTERVAL": "200ms"}
		maps.Copy(vars, extra)
		return vars
	}
	a, b := startAggregator(t, env(), clk), startAggregator(t, env(), clk)
	s := &modelStream{t: t, rng: rng, broker: broker, clk: clk}

	// Phase 1: the bulk, with repeats, malformed bytes and events ahead;
	// one member leaves while it is consumed.
	g := &generator{rng: rng, now: now}
	shop := &shop{rng: rng, tenant: "acme", now: now}
	var bulk []msg
	for range 1200 {
		ev := g.event([]string{"acme", "globex"}[rng.IntN(2)])
		s.sent = append(s.sent, ev)
		bulk = append(bulk, eventMsg(ev))
	}
	for _, ev := range shop.history(40, 60*24*time.Hour) {
		s.sent = append(s.sent, ev)
		bulk = append(bulk, eventMsg(ev))
	}
	rng.Shuffle(len(bulk), func(i, j int) { bulk[i], bulk[j] = bulk[j], bulk[i] })
	for range 5 {
		ahead := g.event("globex")
		ahead.OccurredAt = now.Add(time.Duration(3+rng.IntN(10)) * time.Minute)
		bulk = append(bulk, eventMsg(ahead))
	}
	bulk = append(bulk, msg{topic: "cx.surveys", key: []byte("acme/x"), value: []byte(`{"id":"broken",`)},
		msg{topic: "cx.tickets", key: []byte("globex/y"), value: []byte(`{"id":"t","type":"ticket.opened","tenant":"globex","occurred_at":"2026-11-22T11:00:00Z"}`)})
	half := len(bulk) / 2
	s.send(bulk[:half])
	a.stop() // a rebalance while the rest arrives
	s.send(bulk[half:])
	waitApplied(t, b.base)

	// Phase 2, an hour on: changes of earlier events; a member joins.
	clk.add(time.Hour)
	require.NoError(t, b.agg.SweepOnce(t.Context()))
	c := startAggregator(t, env(), clk)
	s.send(s.changes(500, clk.now()))
	waitApplied(t, c.base)

	// Erasures: a customer with answers and tickets, one with purchases;
	// then they send again, before and after the erasure.
	victims := []string{fmt.Sprintf("c%d", rng.IntN(300)), fmt.Sprintf("k%03d", rng.IntN(40))}
	for _, v := range victims {
		rec := s.erase(c.base, "acme", v)
		t.Logf("erased %s: %d events", v, rec.EventsRetracted)
	}
	clk.add(10 * time.Minute)
	var again []msg
	for _, v := range victims {
		before := g.event("acme")
		before.CustomerID, before.OccurredAt = v, clk.now().Add(-20*time.Minute)
		after := g.event("acme")
		after.CustomerID, after.OccurredAt = v, clk.now().Add(-time.Minute)
		again = append(again, eventMsg(before), eventMsg(after))
	}
	s.send(append(again, s.changes(100, clk.now())...))

	// Phase 3, two hours on: settle, sweep and publish, then compare.
	clk.add(2 * time.Hour)
	waitApplied(t, c.base)
	leader := b // it held the publisher's lease from the start
	require.NoError(t, leader.agg.SweepOnce(t.Context()))
	require.NoError(t, leader.agg.PublishOnce(t.Context()))
	end := clk.now()
	cal := refCal{time.UTC, false, time.Monday}
	checkModel(t, leader.base, broker, s, func(i int) time.Time { return s.nows[i] }, end,
		[]refPeriod{cal.month(2026, 11), cal.month(2026, 10), cal.year(2026), cal.day(end), cal.week(end), cal.quarter(2026, 4)})
	for _, src := range s.sources {
		if src != "" {
			produced++
		}
	}
	return broker, produced
}

// checkModel compares what the service at base reports with the model of
// the stream s, its messages judged at nowOf, at end: every dead letter,
// every stat of every window and scope of both tenants, the periods of
// acme (all and two stores) and its advocates.
func checkModel(t *testing.T, base, broker string, s *modelStream, nowOf func(int) time.Time, end time.Time, periods []refPeriod) {
	t.Helper()
	final, bad := referenceAt(s.all, nowOf)
	checkDeadLetters(t, broker, wantLetters(bad, s.sources))
	scopesOf := func(ev *events.Event) []string {
		out := []string{"all"}
		for _, d := range []string{"store", "region", "channel", "agent"} {
			if v := ev.Dims[d]; v != "" {
				out = append(out, d+"="+v)
			}
		}
		return out
	}
	for _, tenant := range []string{"acme", "globex"} {
		checkAllScores(t, base, tenant, expected(final[tenant], end, scopesOf))
	}
	for _, p := range periods {
		for _, scope := range []string{"all", "store=s03", "store=s07"} {
			var ans struct{ Stats map[string]float64 }
			require.Equal(t, http.StatusOK, getJSON(t, base+"/v1/tenants/acme/periods?scope="+scope+"&period="+p.name, &ans), p.name)
			for stat, v := range refPeriodStats(final["acme"], scope, p.from, p.to) {
				require.InDelta(t, v, ans.Stats[stat], 1e-9*max(1, v), "%s %s %s", scope, p.name, stat)
			}
		}
	}
	for _, w := range refWindows {
		var got api.AdvocateList
		require.Equal(t, http.StatusOK, getJSON(t, base+"/v1/tenants/acme/advocates?limit=1000&window="+w.name, &got))
		require.Equal(t, refAdvocates(final["acme"], w, end), got.Advocates, "advocates in %s", w.name)
	}
	t.Logf("%d messages, %d dead letters, %d and %d events counted", len(s.all), len(bad), len(final["acme"]), len(final["globex"]))
}
