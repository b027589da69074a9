package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/cxpulse/cxpulse/internal/aggregate"
	"github.com/cxpulse/cxpulse/internal/api"
	"github.com/cxpulse/cxpulse/internal/scopes"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/internal/testseed"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// instance is an aggregator running in-process on a fake clock.
type instance struct {
	base  string
	agg   *aggregate.Aggregator
	clock *clock
	stop  func()
}

func startAggregator(t *testing.T, env map[string]string, clk *clock) *instance {
	t.Helper()
	port := testenv.FreePort(t)
	env["CXPULSE_HTTP_ADDR"] = fmt.Sprintf("127.0.0.1:%d", port)
	if env["CXPULSE_API_KEYS_FILE"] == "" {
		env["CXPULSE_INSECURE_NO_AUTH"] = "1"
	}
	cfg, err := load(t, env)
	require.NoError(t, err)
	a, err := aggregate.New(cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), aggregate.WithClock(clk.now))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stop := func() {
		cancel()
		require.NoError(t, <-done)
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			stop()
		}
	})
	base := "http://" + env["CXPULSE_HTTP_ADDR"]
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return true
	}, 10*time.Second, 20*time.Millisecond)
	return &instance{base: base, agg: a, clock: clk, stop: stop}
}

// TestExactCounts runs a generated event set with duplicates, revisions,
// conflicts, late, too-late, future and malformed messages through kfake
// and a real Redis, and compares every stat of every scope and window with
// the reference.
func TestExactCounts(t *testing.T) {
	_, addr := testenv.Redis(t)
	exactCounts(t, map[string]string{"CXPULSE_REDIS_URL": "redis://" + addr})
}

// TestExactCountsOnRedisCluster runs the same on a local 3-master Redis
// Cluster: every script stays within its tenant's slot.
func TestExactCountsOnRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	exactCounts(t, map[string]string{"CXPULSE_REDIS_URL": testenv.RedisCluster(t, 3), "CXPULSE_REDIS_CLUSTER": "1"})
}

// TestExactCountsOnRedisClusterTLS runs the same on a Cluster that speaks
// only TLS, through the ACL user holding only the documented rights.
func TestExactCountsOnRedisClusterTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	pki := testenv.NewPKI(t)
	exactCounts(t, map[string]string{"CXPULSE_REDIS_URL": testenv.RedisClusterTLS(t, pki, 3), "CXPULSE_REDIS_CLUSTER": "1",
		"CXPULSE_REDIS_PASSWORD": "s3cret", "CXPULSE_REDIS_TLS_CA_FILE": pki.CAFile})
}

func exactCounts(t *testing.T, env map[string]string) {
	seed := testseed.New(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	now := time.Date(2026, 11, 22, 12, 0, 30, 0, time.UTC)
	clk := newClock(now)
	_, broker := testenv.Kafka(t, 4, allTopics...)
	env["CXPULSE_KAFKA_BROKERS"] = broker
	env["CXPULSE_SCOPE_COMBOS"] = "channel+region"
	env["CXPULSE_MAX_SCOPES_PER_DIM"] = "20"
	env["CXPULSE_EMIT_INTERVAL"] = "200ms"
	in := startAggregator(t, env, clk)

	g := &generator{rng: rng, now: now}
	var phase1 []msg
	var sent []events.Event
	for i := 0; i < 4000; i++ {
		tenant := []string{"acme", "globex"}[rng.IntN(2)]
		ev := g.event(tenant)
		sent = append(sent, ev)
		phase1 = append(phase1, eventMsg(ev))
		if rng.IntN(20) == 0 { // an immediate repeat, often in the same batch
			phase1 = append(phase1, eventMsg(ev))
		}
	}
	// Future events, one just inside the tolerance.
	for i := 0; i < 20; i++ {
		ev := g.event("acme")
		ev.OccurredAt = now.Add(6*time.Minute + time.Duration(rng.IntN(3600))*time.Second)
		phase1 = append(phase1, eventMsg(ev))
	}
	edge := g.event("globex")
	edge.OccurredAt = now.Add(4 * time.Minute)
	phase1 = append(phase1, eventMsg(edge))
	// Malformed and invalid messages.
	phase1 = append(phase1,
		msg{topic: "cx.surveys", key: []byte("acme/x"), value: []byte(`{"id":"broken",`)},
		msg{topic: "cx.tickets", key: nil, value: []byte(`not json at all`)},
		eventMsg(events.Event{ID: "bad-score", Type: events.TypeSurveyResponse, Tenant: "acme", OccurredAt: now, Survey: &events.Survey{Metric: events.MetricNPS, Score: 11}}),
		msg{topic: "cx.surveys", key: []byte("acme/typo"), value: []byte(`{"id":"typo","type":"survey.response","tenant":"acme","occurred_at":"2026-11-22T11:00:00Z","survey":{"metric":"csat"}}`)},
	)
	// Purchases are consumed and acknowledged.
	phase1 = append(phase1, eventMsg(events.Event{ID: "p-1", Type: events.TypePurchaseCompleted, Tenant: "acme", OccurredAt: now.Add(-time.Hour), CustomerID: "c1", Purchase: &events.Purchase{OrderID: "o1", Amount: 10}}))
	sources1 := produce(t, broker, phase1)
	waitApplied(t, in.base)

	// Phase 2, after phase 1 is applied: repeats, revisions (one moving an
	// event to another store), conflicts and a too-late revision.
	var phase2 []msg
	for i := 0; i < 600; i++ {
		ev := sent[rng.IntN(len(sent))]
		switch rng.IntN(5) {
		case 0, 1: // repeat
		case 2: // revision with a new score or store
			ev.Revision++
			if ev.Survey != nil {
				s := *ev.Survey
				lo, hi, _ := s.Metric.Range()
				s.Score = lo + rng.IntN(hi-lo+1)
				ev.Survey = &s
			}
			ev.Dims = map[string]string{"store": fmt.Sprintf("s%02d", rng.IntN(24)), "region": "eu", "channel": "web"}
			ev.OccurredAt = now.Add(-time.Duration(rng.IntN(3600)) * time.Second)
		case 3: // conflicting revision: another type
			ev.Revision += 2
			if ev.Type == events.TypeSurveyResponse {
				ev.Type, ev.Survey, ev.Ticket = events.TypeTicketOpened, nil, &events.Ticket{TicketID: "T-x"}
			} else {
				ev.Type, ev.Ticket, ev.Survey = events.TypeSurveyResponse, nil, &events.Survey{Metric: events.MetricNPS, Score: 5}
			}
		case 4: // a revision that is too late: before every period kept
			ev.Revision += 3
			ev.OccurredAt = now.AddDate(-2, 0, 0)
		}
		phase2 = append(phase2, eventMsg(ev))
	}
	sources2 := produce(t, broker, phase2)
	waitApplied(t, in.base)

	all := append(phase1, phase2...)
	sources := append(sources1, sources2...)
	final, bad := reference(all, now)

	// Dead letters: exactly the bad messages, by cxpulse-source, each with
	// the reason the reference gives it.
	letters := wantLetters(bad, sources)
	require.Equal(t, "malformed_json", letters[sources1[len(phase1)-5]])
	require.Equal(t, "invalid_event", letters[sources1[len(phase1)-3]])
	require.Equal(t, "invalid_event", letters[sources1[len(phase1)-2]])
	checkDeadLetters(t, broker, letters)

	for _, tenant := range []string{"acme", "globex"} {
		// Which stores got their own scope is decided by arrival order;
		// the cap itself is checked: exactly 20 of 24.
		var scopeList api.ScopeList
		require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/"+tenant+"/scopes?dim=store", &scopeList))
		admitted := map[string]bool{}
		for _, s := range scopeList.Scopes {
			v := strings.TrimPrefix(s, "store=")
			if v != scopes.Other {
				admitted[v] = true
			}
		}
		require.Len(t, admitted, 20, "stores with their own scope")
		require.Contains(t, scopeList.Scopes, "store=__other__")
		scopesOf := func(ev *events.Event) []string {
			out := []string{"all"}
			for _, d := range []string{"store", "region", "channel", "product", "agent"} {
				if v, ok := ev.Dims[d]; ok {
					if d == "store" && !admitted[v] {
						v = scopes.Other
					}
					out = append(out, d+"="+v)
				}
			}
			if ev.Dims["channel"] == "" || ev.Dims["region"] == "" {
				return out
			}
			return append(out, "channel="+ev.Dims["channel"]+",region="+ev.Dims["region"])
		}
		want := expected(final[tenant], now, scopesOf)
		require.Greater(t, len(want), 30)
		checkAllScores(t, in.base, tenant, want)
	}

	// Windows slide with the clock: two hours on, after a sweep, the 1h and
	// 24h windows have moved.
	later := now.Add(2*time.Hour + 3*time.Minute)
	clk.set(later)
	require.NoError(t, in.agg.SweepOnce(t.Context()))
	want := expected(final["acme"], later, func(*events.Event) []string { return []string{"all"} })
	var got scores.Scores
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/scores?scope=all", &got))
	compareScores(t, got, want["all"])
	require.Equal(t, float64(0), got.Windows["1h"]["nps_responses"])
}

// TestReplayBeyondHorizonIsSkippedByWatermark replays a partition from
// offset 0 after the dedupe horizon has passed (its ids are forgotten):
// the per-tenant watermarks must still keep every event counted once.
func TestReplayBeyondHorizonIsSkippedByWatermark(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clk := newClock(now)
	_, broker := testenv.Kafka(t, 2, allTopics...)
	rdb, addr := testenv.Redis(t)
	env := map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr, "CXPULSE_GROUP_ID": "replay"}
	g := &generator{rng: rand.New(rand.NewPCG(1, 2)), now: now}
	var msgs []msg
	for range 300 {
		ev := g.event("acme")
		ev.OccurredAt = now.Add(-time.Duration(g.rng.IntN(3600)) * time.Second)
		msgs = append(msgs, eventMsg(ev))
	}
	produce(t, broker, msgs)
	first := startAggregator(t, env, clk)
	waitApplied(t, first.base)
	first.stop()

	// Lose every resume offset, then let the ids be forgotten.
	keys, err := rdb.Keys(t.Context(), "cxpulse:{p:replay:*").Result()
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	for _, k := range keys {
		require.NoError(t, rdb.HSet(t.Context(), k, "resume", 0).Err())
	}
	clk.add(25 * time.Hour)
	second := startAggregator(t, env, clk)
	require.NoError(t, second.agg.SweepOnce(t.Context()))
	waitApplied(t, second.base)

	final, _ := reference(msgs, now)
	want := expected(final["acme"], clk.now(), func(*events.Event) []string { return []string{"all"} })
	var got scores.Scores
	require.Equal(t, http.StatusOK, getJSON(t, second.base+"/v1/tenants/acme/scores?scope=all", &got))
	compareScores(t, got, want["all"])
	require.Positive(t, got.Windows["7d"]["nps_responses"]+got.Windows["7d"]["tickets_opened"])
}

// TestRedisOutage freezes Redis (SIGSTOP) while events stream in, for
// longer than the client's 5 s read timeout, so that a script Redis runs
// after it thaws has an answer nobody reads: the aggregator backs off,
// acknowledges nothing unapplied, and once Redis answers again every event
// is counted once and every view is written before its offsets commit.
func TestRedisOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("freezes Redis for seconds")
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	_, broker := testenv.Kafka(t, 3, allTopics...)
	srv := testenv.RedisProcess(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + srv.Addr}, newClock(now))
	g := &generator{rng: rand.New(rand.NewPCG(5, 6)), now: now}
	var msgs []msg
	for range 6000 {
		ev := g.event("acme")
		ev.OccurredAt = now.Add(-time.Duration(g.rng.IntN(86400)) * time.Second)
		msgs = append(msgs, eventMsg(ev))
	}
	produce(t, broker, msgs[:2000])
	waitApplied(t, in.base)
	proc, err := os.FindProcess(srv.Pid())
	require.NoError(t, err)
	require.NoError(t, proc.Signal(syscall.SIGSTOP))
	produce(t, broker, msgs[2000:4000])
	time.Sleep(7 * time.Second)
	require.NoError(t, proc.Signal(syscall.SIGCONT))
	produce(t, broker, msgs[4000:])
	waitApplied(t, in.base)

	final, bad := reference(msgs, now)
	require.Empty(t, bad)
	want := expected(final["acme"], now, func(ev *events.Event) []string { return []string{"all", "store=" + ev.Dims["store"]} })
	checkScores(t, in.base, "acme", want)
}
