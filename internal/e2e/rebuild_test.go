package e2e

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/api"
	"github.com/cxpulse/cxpulse/internal/kafkaconn"
	rebuilds "github.com/cxpulse/cxpulse/internal/rebuild"
	"github.com/cxpulse/cxpulse/internal/router"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/internal/timerule"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/scores"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// TestRebuildOnStateLoss: with CXPULSE_ON_STATE_LOSS=rebuild, Redis
// flushed under a running aggregator while two tenants stream is rebuilt
// from the log start without a hand on it: every count exact again.
func TestRebuildOnStateLoss(t *testing.T) { rebuildOnStateLoss(t, nil) }

// TestRebuildOnStateLossRouted is TestRebuildOnStateLoss with routing by
// tenant: the tenant-keyed topic is read again from its start.
func TestRebuildOnStateLossRouted(t *testing.T) {
	rebuildOnStateLoss(t, map[string]string{"CXPULSE_ROUTE_BY_TENANT": "1"})
}

func rebuildOnStateLoss(t *testing.T, extra map[string]string) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	_, broker := testenv.Kafka(t, 3, allTopics...)
	rdb, addr := testenv.Redis(t)
	vars := map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr, "CXPULSE_ON_STATE_LOSS": "rebuild"}
	maps.Copy(vars, extra)
	in := startAggregator(t, vars, newClock(now))
	msgs := twoTenants(now, 31, 3)
	produce(t, broker, msgs[:2000])
	waitApplied(t, in.base)
	require.NoError(t, rdb.FlushAll(t.Context()).Err())
	produce(t, broker, msgs[2000:])

	final, _ := reference(msgs, now)
	scopesOf := func(ev *events.Event) []string { return []string{"all", "store=" + ev.Dims["store"]} }
	want := map[string]map[string]map[string]*refCounts{}
	for _, tenant := range []string{"acme", "globex"} {
		want[tenant] = expected(final[tenant], now, scopesOf)
	}
	// Rebuilt once the 90d counts are back: then every stat of every scope.
	require.Eventually(t, func() bool {
		for tenant, w := range want {
			var got scores.Scores
			if getJSON(t, in.base+"/v1/tenants/"+tenant+"/scores?scope=all", &got) != http.StatusOK {
				return false
			}
			exp := w["all"]["90d"].stats()
			if got.Windows["90d"]["nps_responses"] != exp["nps_responses"] || got.Windows["90d"]["tickets_opened"] != exp["tickets_opened"] {
				return false
			}
		}
		return true
	}, 90*time.Second, 100*time.Millisecond, "the counts did not come back")
	waitApplied(t, in.base)
	for tenant, w := range want {
		checkScores(t, in.base, tenant, w)
	}
	v, ok := metricValue(t, in.base, "cxpulse_partition_rebuilds_total")
	require.True(t, ok)
	n, err := strconv.ParseFloat(v, 64)
	require.NoError(t, err)
	require.Positive(t, n)
}

// TestRebuildRefusesAGap: with CXPULSE_ON_STATE_LOSS=rebuild, a partition
// whose log no longer reaches back to what the calendar periods keep
// (retention deleted its start) is not rebuilt from what is left: it
// halts, naming the gap.
func TestRebuildRefusesAGap(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	_, broker := testenv.Kafka(t, 1, allTopics...)
	rdb, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_ON_STATE_LOSS": "rebuild", "CXPULSE_GROUP_ID": "gap"}, newClock(now))
	produce(t, broker, surveys("acme", "a", 300, now.Add(-time.Minute)))
	waitApplied(t, in.base)
	testenv.DeleteRecords(t, broker, "cx.surveys", 0, 100)
	require.NoError(t, rdb.FlushAll(t.Context()).Err())
	produce(t, broker, surveys("acme", "b", 100, now.Add(-time.Minute)))
	haltedLoudly(t, in.base, "cx.surveys/0", "a rebuild would miss what retention deleted")
}

// TestRolledBackTenantRebuilt: with CXPULSE_ON_STATE_LOSS=rebuild, an older
// copy of one tenant's keys written back under a running aggregator (a
// restore of one node, a failover to a replica behind) is repaired without
// a hand on it: the group rewinds every partition, the tenant gets back
// what the copy lacks from each, once, and the other tenant is untouched.
func TestRolledBackTenantRebuilt(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	_, broker := testenv.Kafka(t, 3, allTopics...)
	rdb, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_ON_STATE_LOSS": "rebuild"}, newClock(now))
	produce(t, broker, append(surveys("acme", "a", 100, now.Add(-time.Minute)), surveys("globex", "g", 100, now.Add(-time.Minute))...))
	waitApplied(t, in.base)
	rollBack := snapshot(t, rdb, "acme")
	produce(t, broker, append(surveys("acme", "b", 100, now.Add(-time.Minute)), surveys("globex", "h", 50, now.Add(-time.Minute))...))
	waitApplied(t, in.base)
	rollBack()
	// The new answers all come from one customer, so one partition finds
	// the loss; the others rewind because the group asks them to.
	var onePartition []msg
	for i := range 10 {
		ev := survey(fmt.Sprintf("c-%d", i), "acme", "s1", 9, now.Add(-time.Minute))
		ev.CustomerID = "one-customer"
		onePartition = append(onePartition, eventMsg(ev))
	}
	produce(t, broker, onePartition)
	responses := func(tenant string) float64 {
		var got scores.Scores
		require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/"+tenant+"/scores?scope=all", &got))
		return got.Windows["1h"]["nps_responses"]
	}
	require.Eventually(t, func() bool { return responses("acme") == 210 }, 60*time.Second, 100*time.Millisecond,
		"acme is back to its 210 answers")
	waitApplied(t, in.base)
	require.EqualValues(t, 210, responses("acme"))
	require.EqualValues(t, 150, responses("globex"))
	noneHalted(t, in.base)
}

// TestRebuildOneTenant: `cxpulse rebuild --tenant acme` under a running
// aggregator (CXPULSE_ON_STATE_LOSS left at halt) while both tenants keep
// streaming: acme's state is dropped and read again from the logs, and
// both tenants are exact afterwards; globex never stops.
func TestRebuildOneTenant(t *testing.T) { rebuildOneTenant(t, false) }

// TestRebuildOneTenantRouted is TestRebuildOneTenant with routing by
// tenant, the rebuild rewinding the tenant-keyed topic (`cxpulse rebuild`
// with CXPULSE_ROUTE_BY_TENANT).
func TestRebuildOneTenantRouted(t *testing.T) { rebuildOneTenant(t, true) }

func rebuildOneTenant(t *testing.T, routed bool) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clk := newClock(now)
	_, broker := testenv.Kafka(t, 3, allTopics...)
	rdb, addr := testenv.Redis(t)
	vars := map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}
	var topics []string
	if routed {
		vars["CXPULSE_ROUTE_BY_TENANT"] = "1"
		topics = []string{router.Topic("cx.")}
	}
	in := startAggregator(t, vars, clk)
	msgs := twoTenants(now, 41, 2)
	produce(t, broker, msgs[:2500])
	waitApplied(t, in.base)
	// Something only a wrong state would hold.
	require.NoError(t, rdb.HSet(t.Context(), "cxpulse:{acme}:s:store=ghost", "v", 1).Err())

	done := make(chan struct{})
	go func() { defer close(done); produce(t, broker, msgs[2500:]) }() // both tenants go on
	rebuildTenant(t, rdb, broker, clk, "acme", topics)
	<-done
	waitApplied(t, in.base)
	require.Zero(t, rdb.Exists(t.Context(), "cxpulse:{acme}:s:store=ghost").Val())
	final, _ := reference(msgs, now)
	scopesOf := func(ev *events.Event) []string { return []string{"all", "store=" + ev.Dims["store"]} }
	for _, tenant := range []string{"acme", "globex"} {
		checkScores(t, in.base, tenant, expected(final[tenant], now, scopesOf))
	}
	noneHalted(t, in.base)
}

// twoTenants generates 4000 events of acme and globex (one in every of
// globex's), from seed.
func twoTenants(now time.Time, seed uint64, every int) []msg {
	g := &generator{rng: rand.New(rand.NewPCG(seed, 7)), now: now}
	var msgs []msg
	for i := range 4000 {
		tenant := "acme"
		if i%every == 0 {
			tenant = "globex"
		}
		msgs = append(msgs, eventMsg(g.event(tenant)))
	}
	return msgs
}

// rebuildTenant rebuilds a tenant as `cxpulse rebuild --tenant` does, the
// group's default, rewinding topics (nil: the input topics), and waits
// until every partition caught up.
func rebuildTenant(t *testing.T, rdb *redis.Client, broker string, clk *clock, tenant string, topics []string) {
	t.Helper()
	ws, err := window.Parse(window.DefaultSpec)
	require.NoError(t, err)
	kc := kafkaconn.Config{Brokers: []string{broker}}
	opts := rebuilds.Options{Group: "cxpulse-aggregator", TopicPrefix: "cx.", Topics: topics, Tenants: []string{tenant}, Kafka: &kc, Redis: rdb,
		Rule: timerule.New(nil, ws[len(ws)-1]), Now: clk.now}
	req, err := rebuilds.Start(t.Context(), opts)
	require.NoError(t, err)
	require.Positive(t, req.ID)
	require.Eventually(t, func() bool {
		st, err := rebuilds.Progress(t.Context(), opts, req)
		require.NoError(t, err)
		return st.Done()
	}, 60*time.Second, 100*time.Millisecond, "the rebuild did not catch up")
}

// noneHalted checks that /v1/status lists every input partition and none
// of them halted.
func noneHalted(t *testing.T, base string) {
	t.Helper()
	var st api.Status
	require.Equal(t, http.StatusOK, getJSON(t, base+"/v1/status", &st))
	require.NotEmpty(t, st.Partitions)
	for _, p := range st.Partitions {
		require.Empty(t, p.Halted, "%s/%d", p.Topic, p.Partition)
	}
}

// TestRebuildUnderTwoAggregators: a tenant rebuilt while two aggregators of
// the group apply it is exact again. Versions of its scopes start again
// after the drop, so an instance's memory of the view it last wrote must
// not be taken for the view the other instance wrote since (before
// writeview.lua named its writer, 2 or 3 of 20 runs left a view stale).
func TestRebuildUnderTwoAggregators(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 30, 0, time.UTC)
	run := runErasureHistory(t, now, 20, map[string]string{})
	startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": run.broker, "CXPULSE_REDIS_URL": "redis://" + run.addr}, run.clk)
	for range 3 {
		rebuildTenant(t, run.rdb, run.broker, run.clk, "acme", nil)
		waitApplied(t, run.in.base)
		checkScores(t, run.in.base, "acme", expected(run.final, now, erasureScopes))
	}
}
