package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/cxpulse/cxpulse/internal/aggregate"
	"github.com/cxpulse/cxpulse/internal/api"
	"github.com/cxpulse/cxpulse/internal/claims"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// metricValue returns the value of the first /metrics sample whose line
// starts with series (name and labels), and whether there is one.
func metricValue(t *testing.T, base, series string) (string, bool) {
	t.Helper()
	for _, line := range strings.Split(getText(t, base+"/metrics"), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			return rest, true
		}
	}
	return "", false
}

// latestScores returns the newest cx.scores snapshot of each key.
func latestScores(t *testing.T, broker string) map[string]scores.Scores {
	t.Helper()
	out := map[string]scores.Scores{}
	n := int(testenv.Count(t, broker, "cx.scores"))
	for _, r := range testenv.Consume(t, broker, "cx.scores", n) {
		var s scores.Scores
		require.NoError(t, json.Unmarshal(r.Value, &s))
		if s.Seq >= out[string(r.Key)].Seq {
			out[string(r.Key)] = s
		}
	}
	return out
}

// TestOneTenantNeverStopsAnother: a purchase too large to sum is refused
// by name; a tenant whose outputs cannot be built (its stored counters
// corrupt) is skipped loudly — logged, counted, listed in /v1/status —
// while the other tenant's scores are still published.
func TestOneTenantNeverStopsAnother(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	_, broker := testenv.Kafka(t, 2, allTopics...)
	rdb, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_EMIT_INTERVAL": "1h"}, newClock(now))
	huge := events.Event{ID: "p-huge", Type: events.TypePurchaseCompleted, Tenant: "evil", OccurredAt: now.Add(-time.Minute),
		CustomerID: "c-1", Purchase: &events.Purchase{OrderID: "o-1", Amount: 1e305}}
	sources := produce(t, broker, []msg{eventMsg(survey("e-1", "evil", "s1", 3, now.Add(-time.Minute))),
		eventMsg(survey("g-1", "good", "s1", 9, now.Add(-time.Minute))), eventMsg(huge)})
	waitApplied(t, in.base)
	letters := waitDeadLetters(t, broker, 1)
	require.Equal(t, "invalid_event", letters[sources[2]])
	require.NoError(t, in.agg.PublishOnce(t.Context()))

	// One of evil's hourly buckets turns unreadable (the alert evaluation
	// reads it); both tenants get a new event.
	bucket := fmt.Sprintf("24h:%d", now.Add(-10*time.Hour).Unix()/3600)
	require.NoError(t, rdb.HSet(t.Context(), "cxpulse:{evil}:s:all", bucket, "\xc1 not counters").Err())
	produce(t, broker, []msg{eventMsg(survey("e-2", "evil", "s1", 4, now.Add(-time.Minute))),
		eventMsg(survey("g-2", "good", "s1", 10, now.Add(-time.Minute)))})
	waitApplied(t, in.base)
	err := in.agg.PublishOnce(t.Context())
	require.ErrorContains(t, err, "tenant evil")
	require.NotContains(t, err.Error(), "tenant good")

	got := latestScores(t, broker)
	require.EqualValues(t, 2, got["good/all"].Windows["24h"]["nps_responses"], "good's scores are published")
	var st api.Status
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/status", &st))
	require.Len(t, st.Tenants, 1)
	require.Equal(t, "evil", st.Tenants[0].Tenant)
	require.Equal(t, "publishing", st.Tenants[0].Stage)
	require.Contains(t, st.Tenants[0].Problem, bucket)
	v, ok := metricValue(t, in.base, `cxpulse_tenant_failures_total{stage="publishing"}`)
	require.True(t, ok)
	require.NotEqual(t, "0", v)

	// Repaired, the tenant is published again and its problem cleared.
	require.NoError(t, rdb.HDel(t.Context(), "cxpulse:{evil}:s:all", bucket).Err())
	require.NoError(t, in.agg.PublishOnce(t.Context()))
	st = api.Status{}
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/status", &st))
	require.Empty(t, st.Tenants)
}

// TestHugePoisonMessageMovesOn: a message too large to dead-letter whole
// (with its headers it exceeds the broker's limit) is written truncated,
// with headers saying so, and the valid events behind it on the same
// partition are counted.
func TestHugePoisonMessageMovesOn(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	_, broker := testenv.Kafka(t, 1, allTopics...)
	_, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}, newClock(now))
	poison := make([]byte, 1_048_420) // fits kfake's 1,048,588-byte batch limit; with headers it would not
	for i := range poison {
		poison[i] = 'x'
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ProducerBatchMaxBytes(2<<20), kgo.RequiredAcks(kgo.AllISRAcks()))
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, cl.ProduceSync(t.Context(), &kgo.Record{Topic: "cx.surveys", Key: []byte("acme/x"), Value: poison}).FirstErr())
	produce(t, broker, []msg{eventMsg(survey("a-1", "acme", "s1", 9, now.Add(-time.Minute))),
		eventMsg(survey("a-2", "acme", "s1", 2, now.Add(-time.Minute)))})
	waitApplied(t, in.base)

	var got scores.Scores
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/scores", &got))
	require.EqualValues(t, 2, got.Windows["1h"]["nps_responses"])
	recs := testenv.Consume(t, broker, "cx.deadletter", 1)
	h := map[string]string{}
	for _, hd := range recs[0].Headers {
		h[hd.Key] = string(hd.Value)
	}
	require.Equal(t, "malformed_json", h["cxpulse-error"])
	require.Equal(t, "true", h["cxpulse-truncated"])
	require.Equal(t, "1048420", h["cxpulse-original-size"])
	require.Equal(t, "cx.surveys/0/0", h["cxpulse-source"])
	require.Less(t, len(recs[0].Value), len(poison))
	require.Equal(t, poison[:len(recs[0].Value)], recs[0].Value, "the head of the original bytes")
}

// haltedLoudly waits until base's /readyz answers 503 naming want, then
// checks that /v1/status and the metric show partition halted with it.
func haltedLoudly(t *testing.T, base, partition, want string) api.PartitionStatus {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(b), want)
	}, 60*time.Second, 50*time.Millisecond, "/readyz does not report %q", want)
	var st api.Status
	require.Equal(t, http.StatusOK, getJSON(t, base+"/v1/status", &st))
	var ps api.PartitionStatus
	for _, p := range st.Partitions {
		if fmt.Sprintf("%s/%d", p.Topic, p.Partition) == partition {
			ps = p
		}
	}
	require.Contains(t, ps.Halted, want, "/v1/status of %s", partition)
	v, ok := metricValue(t, base, fmt.Sprintf(`cxpulse_partition_halted{partition=%q}`, partition))
	require.True(t, ok)
	require.Equal(t, "1", v)
	t.Logf("%s halted: %s", partition, ps.Halted)
	return ps
}

// TestRetentionWhileRunning: the aggregator pauses (SIGSTOP, shorter than
// the session timeout) while retention deletes offsets it has not read;
// resumed, it halts the partition naming the deleted range instead of
// skipping to the log start.
func TestRetentionWhileRunning(t *testing.T) { retentionWhileRunning(t, nil) }

// TestRetentionWhileRunningRouted is TestRetentionWhileRunning with
// routing by tenant: the router halts the input partition.
func TestRetentionWhileRunningRouted(t *testing.T) {
	retentionWhileRunning(t, []string{"CXPULSE_ROUTE_BY_TENANT=1"})
}

func retentionWhileRunning(t *testing.T, extra []string) {
	now := time.Now()
	bin := buildAggregator(t)
	_, broker := testenv.Kafka(t, 1, allTopics...)
	_, redisAddr := testenv.Redis(t)
	p := startProcess(t, bin, "a", append([]string{"CXPULSE_KAFKA_BROKERS=" + broker, "CXPULSE_REDIS_URL=redis://" + redisAddr,
		"CXPULSE_INSECURE_NO_AUTH=1", "CXPULSE_GROUP_ID=ret", "CXPULSE_LOG_FORMAT=json"}, extra...))
	batch := func(from, n int) []msg {
		var out []msg
		for i := from; i < from+n; i++ {
			out = append(out, eventMsg(survey(fmt.Sprintf("r%d", i), "acme", "s1", 9, now.Add(-time.Minute))))
		}
		return out
	}
	produce(t, broker, batch(0, 1300))
	waitApplied(t, p.base)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGSTOP))
	// The fetch it had pending runs out (its 250 ms wait) before anything
	// new is produced: what follows is not on its way to it already.
	time.Sleep(time.Second)
	produce(t, broker, batch(1300, 2000))
	testenv.DeleteRecords(t, broker, "cx.surveys", 0, 3300)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGCONT))

	ps := haltedLoudly(t, p.base, "cx.surveys/0", "deleted by retention")
	require.Contains(t, ps.Halted, "1300")
	require.EqualValues(t, 1300, ps.AppliedOffset)
	var st api.Status
	require.Equal(t, http.StatusOK, getJSON(t, p.base+"/v1/status", &st))
	require.EqualValues(t, 2000, st.Lag, "the deleted messages count as not applied")
	var got scores.Scores
	require.Equal(t, http.StatusOK, getJSON(t, p.base+"/v1/tenants/acme/scores", &got))
	require.EqualValues(t, 1300, got.Windows["1h"]["nps_responses"])
}

// TestTopicRecreated: an input topic deleted and recreated under a running
// aggregator halts its partition, loudly, rather than skipping the new
// log's messages below the old offset; /v1/status names the problem.
func TestTopicRecreated(t *testing.T) { topicRecreated(t, nil) }

// TestTopicRecreatedRouted is TestTopicRecreated with routing by tenant:
// the router halts the input partition.
func TestTopicRecreatedRouted(t *testing.T) {
	topicRecreated(t, map[string]string{"CXPULSE_ROUTE_BY_TENANT": "1"})
}

func topicRecreated(t *testing.T, extra map[string]string) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	_, broker := testenv.Kafka(t, 1, allTopics...)
	_, addr := testenv.Redis(t)
	vars := map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}
	maps.Copy(vars, extra)
	in := startAggregator(t, vars, newClock(now))
	var old, fresh []msg
	for i := range 100 {
		old = append(old, eventMsg(survey(fmt.Sprintf("o%d", i), "acme", "s1", 9, now.Add(-time.Minute))))
	}
	for i := range 20 {
		fresh = append(fresh, eventMsg(survey(fmt.Sprintf("n%d", i), "acme", "s1", 3, now.Add(-time.Minute))))
	}
	produce(t, broker, old)
	waitApplied(t, in.base)
	testenv.RecreateTopic(t, broker, "cx.surveys", 1)
	produce(t, broker, fresh)

	ps := haltedLoudly(t, in.base, "cx.surveys/0", "recreated")
	require.EqualValues(t, 20, ps.HighWatermark)
	if extra["CXPULSE_ROUTE_BY_TENANT"] != "" {
		// The routers' commits went with the deleted topic: the halt names
		// the offset they had forwarded to.
		require.Contains(t, ps.Halted, "below the next offset 100")
		return
	}
	require.EqualValues(t, 100, ps.AppliedOffset)
	require.Contains(t, ps.Problem, "below the applied offset 100")
}

// surveys returns n NPS responses of tenant at at, ids prefix-0 onwards.
func surveys(tenant, prefix string, n int, at time.Time) []msg {
	var out []msg
	for i := range n {
		out = append(out, eventMsg(survey(fmt.Sprintf("%s-%d", prefix, i), tenant, "s1", 9, at)))
	}
	return out
}

// TestRedisRestartsEmpty: Redis loses every key under a running
// aggregator; the next events halt their partition naming the lost
// state, instead of counting into an empty Redis. A new instance on the
// emptied Redis halts too (the group committed offsets to Kafka), instead
// of starting over from the log start. Following docs/operations.md
// (rebuild) makes every count exact again.
func TestRedisRestartsEmpty(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	_, broker := testenv.Kafka(t, 1, allTopics...)
	rdb, addr := testenv.Redis(t)
	env := map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr, "CXPULSE_GROUP_ID": "empty"}
	in := startAggregator(t, env, newClock(now))
	produce(t, broker, surveys("acme", "a", 300, now.Add(-time.Minute)))
	waitApplied(t, in.base)
	require.NoError(t, rdb.FlushAll(t.Context()).Err())
	produce(t, broker, surveys("acme", "b", 600, now.Add(-time.Minute)))
	haltedLoudly(t, in.base, "cx.surveys/0", "tenant acme's state is behind what the group applied")
	in.stop()

	again := startAggregator(t, env, newClock(now))
	haltedLoudly(t, again.base, "cx.surveys/0", "Redis holds no state for this partition, but group empty committed offset")
	again.stop()

	// The runbook: delete cxpulse's state, resume every input partition
	// from its log start, start again.
	rebuild(t, rdb, "empty", map[string]int64{"cx.surveys/0": 0, "cx.tickets/0": 0, "cx.purchases/0": 0})
	fixed := startAggregator(t, env, newClock(now))
	waitApplied(t, fixed.base)
	var got scores.Scores
	require.Equal(t, http.StatusOK, getJSON(t, fixed.base+"/v1/tenants/acme/scores", &got))
	require.EqualValues(t, 900, got.Windows["1h"]["nps_responses"])
}

// rebuild follows the rebuild steps of docs/operations.md: every cxpulse
// key deleted, each input partition's claim resuming from its log start.
func rebuild(t *testing.T, rdb *redis.Client, group string, logStarts map[string]int64) {
	t.Helper()
	ctx := t.Context()
	keys, err := rdb.Keys(ctx, "cxpulse:*").Result()
	require.NoError(t, err)
	if len(keys) > 0 {
		require.NoError(t, rdb.Del(ctx, keys...).Err())
	}
	for part, start := range logStarts {
		require.NoError(t, rdb.HSet(ctx, claims.Key(group, part), "resume", start).Err())
	}
}

// snapshot copies every key of a tenant; the returned function writes the
// copy back in place of what the tenant holds then (as a failover to a
// replica behind, or a restore of one node, would).
func snapshot(t *testing.T, rdb *redis.Client, tenant string) (rollBack func()) {
	t.Helper()
	ctx := t.Context()
	keys, err := rdb.Keys(ctx, "cxpulse:{"+tenant+"}:*").Result()
	require.NoError(t, err)
	copies := map[string]string{}
	for _, k := range keys {
		copies[k] = rdb.Dump(ctx, k).Val()
	}
	return func() {
		t.Helper()
		now, err := rdb.Keys(ctx, "cxpulse:{"+tenant+"}:*").Result()
		require.NoError(t, err)
		require.NoError(t, rdb.Del(ctx, now...).Err())
		for k, v := range copies {
			require.NoError(t, rdb.RestoreReplace(ctx, k, 0, v).Err())
		}
	}
}

// TestTenantRolledBack: an older copy of one tenant's keys is written back
// under a running aggregator; the tenant's next events halt the partition
// naming the tenant, instead of skipping what the copy lacks. A rebuild of
// the tenant then resumes the halted partition and makes it exact.
func TestTenantRolledBack(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clk := newClock(now)
	_, broker := testenv.Kafka(t, 1, allTopics...)
	rdb, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}, clk)
	produce(t, broker, append(surveys("acme", "a", 100, now.Add(-time.Minute)), surveys("globex", "g", 100, now.Add(-time.Minute))...))
	waitApplied(t, in.base)
	rollBack := snapshot(t, rdb, "acme")
	produce(t, broker, surveys("acme", "b", 100, now.Add(-time.Minute)))
	waitApplied(t, in.base)
	rollBack()
	produce(t, broker, surveys("acme", "c", 10, now.Add(-time.Minute)))
	haltedLoudly(t, in.base, "cx.surveys/0", "tenant acme's state is behind what the group applied")

	// The halted partition resumes once acme is rebuilt.
	rebuildTenant(t, rdb, broker, clk, "acme", nil)
	waitApplied(t, in.base)
	var got scores.Scores
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/scores?scope=all", &got))
	require.EqualValues(t, 210, got.Windows["1h"]["nps_responses"])
	noneHalted(t, in.base)
}

// TestClocksDisagree: two instances of one group, one whose own clock is
// two hours fast and one ten minutes slow, share the work; both follow the
// Redis time, so every fresh event counts in the 1h window and none is
// taken for a future one.
func TestClocksDisagree(t *testing.T) {
	_, broker := testenv.Kafka(t, 4, allTopics...)
	rdb, addr := testenv.Redis(t)
	start := func(local func() time.Time) *instance {
		t.Helper()
		port := testenv.FreePort(t)
		env := map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr, "CXPULSE_GROUP_ID": "clocks",
			"CXPULSE_HTTP_ADDR": fmt.Sprintf("127.0.0.1:%d", port), "CXPULSE_INSECURE_NO_AUTH": "1"}
		cfg, err := load(t, env)
		require.NoError(t, err)
		a, err := aggregate.New(cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), aggregate.WithLocalClock(local))
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		base := "http://" + env["CXPULSE_HTTP_ADDR"]
		require.Eventually(t, func() bool {
			resp, err := http.Get(base + "/healthz")
			if err == nil {
				_ = resp.Body.Close()
			}
			return err == nil
		}, 10*time.Second, 20*time.Millisecond)
		return &instance{base: base, agg: a}
	}
	fast := start(func() time.Time { return time.Now().Add(2 * time.Hour) })
	slow := start(func() time.Time { return time.Now().Add(-10 * time.Minute) })
	now := time.Now()
	var msgs []msg
	for i := range 400 {
		ev := survey(fmt.Sprintf("c-%d", i), "acme", "s1", 9, now.Add(-time.Duration(i%50)*time.Minute))
		ev.CustomerID = fmt.Sprintf("cust-%d", i) // keys spread over every partition
		msgs = append(msgs, eventMsg(ev))
	}
	produce(t, broker, msgs)
	waitApplied(t, fast.base)
	var got scores.Scores
	require.Equal(t, http.StatusOK, getJSON(t, slow.base+"/v1/tenants/acme/scores", &got))
	require.EqualValues(t, 400, got.Windows["1h"]["nps_responses"], "every event of the last 50 minutes is in the 1h window")
	require.Zero(t, testenv.Count(t, broker, "cx.deadletter"), "no fresh event taken for a future one")
	stored, err := rdb.HGet(t.Context(), "cxpulse:{acme}:wm", "now").Int64()
	require.NoError(t, err)
	server, err := rdb.Time(t.Context()).Result()
	require.NoError(t, err)
	require.LessOrEqual(t, stored, server.UnixMilli(), "the tenant's clock is the Redis server's time, not the fast instance's")
}
