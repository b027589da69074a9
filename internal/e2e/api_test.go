package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cxpulse/cxpulse/internal/auth"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

func survey(id, tenant, store string, score int, at time.Time) events.Event {
	return events.Event{ID: id, Type: events.TypeSurveyResponse, Tenant: tenant, OccurredAt: at,
		Dims: map[string]string{"store": store}, Survey: &events.Survey{Metric: events.MetricNPS, Score: score}}
}

// acmeKeys writes a keys file with acme's keys "acme-read" (read) and
// "acme-write" (write) and returns its path.
func acmeKeys(t *testing.T) string {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	require.NoError(t, os.WriteFile(keys, []byte(fmt.Sprintf("keys:\n- {tenant: acme, sha256: %s, scopes: [read]}\n- {tenant: acme, sha256: %s, scopes: [write]}\n",
		auth.Digest("acme-read"), auth.Digest("acme-write"))), 0o600))
	return keys
}

func TestReadAPIAuth(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	_, broker := testenv.Kafka(t, 1, allTopics...)
	_, addr := testenv.Redis(t)
	keys := acmeKeys(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_API_KEYS_FILE": keys, "CXPULSE_INSECURE_NO_AUTH": "0"}, newClock(now))
	produce(t, broker, []msg{eventMsg(survey("r1", "acme", "s1", 10, now.Add(-time.Minute))), eventMsg(survey("r2", "acme", "s2", 3, now.Add(-time.Minute)))})
	waitApplied(t, in.base)

	get := func(path, key string) (int, []byte) {
		req, err := http.NewRequest(http.MethodGet, in.base+path, nil)
		require.NoError(t, err)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var b json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&b)
		return resp.StatusCode, b
	}
	for _, tc := range []struct {
		path, key string
		status    int
	}{
		{"/v1/tenants/acme/scores", "", 401},
		{"/v1/tenants/acme/scores", "nope", 401},
		{"/v1/tenants/acme/scores", "acme-write", 403},
		{"/v1/tenants/globex/scores", "acme-read", 403},
		{"/v1/tenants/acme/scores", "acme-read", 200},
		{"/v1/tenants/acme/scores?token=acme-read", "", 401}, // ?token= is for the stream only
		{"/v1/tenants/acme/stream?token=nope", "", 401},
		{"/v1/tenants/globex/stream?token=acme-read", "", 403},
		{"/v1/tenants/acme/scores?scope=store=nope", "acme-read", 404},
		{"/v1/tenants/acme/scopes?dim=store", "acme-read", 200},
		{"/v1/tenants/acme/themes?scope=store=s1", "", 401},
		{"/v1/tenants/globex/themes", "acme-read", 403},
		{"/v1/tenants/acme/themes", "acme-write", 403},
		{"/v1/tenants/acme/themes?scope=store=s1&window=24h", "acme-read", 200},
	} {
		status, body := get(tc.path, tc.key)
		require.Equal(t, tc.status, status, "%s with %q: %s", tc.path, tc.key, body)
	}
	_, body := get("/v1/tenants/acme/scopes?dim=store", "acme-read")
	require.JSONEq(t, `{"tenant":"acme","dim":"store","scopes":["store=s1","store=s2"]}`, string(body))
	_, body = get("/v1/tenants/acme/scores", "acme-read")
	var s scores.Scores
	require.NoError(t, json.Unmarshal(body, &s))
	require.Equal(t, "all", s.Scope)
	require.Equal(t, 0.0, s.Windows["1h"]["nps"]) // one promoter, one detractor
	require.Equal(t, 2.0, s.Windows["90d"]["nps_responses"])
	require.Equal(t, now.UnixMilli(), s.UpdatedAt)
}

// TestScoresTopic checks cx.scores: per key, seq only increases, and the
// last snapshot of a scope equals its view.
func TestScoresTopic(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	_, broker := testenv.Kafka(t, 3, allTopics...)
	_, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_EMIT_INTERVAL": "100ms"}, newClock(now))
	for round := range 5 {
		var msgs []msg
		for i := range 50 {
			msgs = append(msgs, eventMsg(survey(fmt.Sprintf("r%d-%d", round, i), "acme", fmt.Sprintf("s%d", i%3), i%11, now.Add(-time.Minute))))
		}
		produce(t, broker, msgs)
		waitApplied(t, in.base)
	}
	var view scores.Scores
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/scores?scope=store=s1", &view))

	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics("cx.scores"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	last := map[string]scores.Scores{}
	deadline := time.Now().Add(30 * time.Second)
	done := func() bool {
		return last["acme/store=s1"].Seq >= view.Seq && last["acme/all"].Windows["1h"]["nps_responses"] == 250
	}
	for !done() && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		for _, r := range fs.Records() {
			var s scores.Scores
			require.NoError(t, json.Unmarshal(r.Value, &s))
			prev, seen := last[string(r.Key)]
			// A retried write may repeat a snapshot; seq never goes back.
			require.True(t, !seen || s.Seq >= prev.Seq, "seq of %s went from %d to %d", r.Key, prev.Seq, s.Seq)
			require.Equal(t, string(r.Key), s.Tenant+"/"+s.Scope)
			last[string(r.Key)] = s
		}
	}
	require.Equal(t, view, last["acme/store=s1"])
	for _, k := range []string{"acme/all", "acme/store=s0", "acme/store=s2"} {
		require.Contains(t, last, k)
	}
	require.Equal(t, 250.0, last["acme/all"].Windows["1h"]["nps_responses"])
}

// TestRetentionHaltsPartitionLoudly: when the resume offset was deleted by
// retention, the partition halts (readiness fails, status says why) instead
// of skipping silently.
func TestRetentionHaltsPartitionLoudly(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	_, broker := testenv.Kafka(t, 1, allTopics...)
	rdb, addr := testenv.Redis(t)
	var msgs []msg
	for i := range 10 {
		msgs = append(msgs, eventMsg(survey(fmt.Sprintf("r%d", i), "acme", "s1", 9, now.Add(-time.Minute))))
	}
	produce(t, broker, msgs)
	require.NoError(t, rdb.HSet(t.Context(), "cxpulse:{p:ret:cx.surveys/0}", "resume", 2, "epoch", 1).Err())

	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	require.NoError(t, err)
	defer cl.Close()
	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = "cx.surveys"
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = 0, 5
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 5000
	resp, err := req.RequestWith(t.Context(), cl)
	require.NoError(t, err)
	require.Zero(t, resp.Topics[0].Partitions[0].ErrorCode)

	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr, "CXPULSE_GROUP_ID": "ret"}, newClock(now))
	require.Eventually(t, func() bool {
		r, err := http.Get(in.base + "/readyz")
		if err != nil {
			return false
		}
		_ = r.Body.Close()
		return r.StatusCode == http.StatusServiceUnavailable
	}, 20*time.Second, 50*time.Millisecond)
	var st struct {
		Partitions []struct {
			Topic         string
			Partition     int
			AppliedOffset int64 `json:"applied_offset"`
			Halted        string
		}
	}
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/status", &st))
	for _, p := range st.Partitions {
		if p.Topic == "cx.surveys" {
			require.EqualValues(t, 2, p.AppliedOffset)
			require.Contains(t, p.Halted, "offsets 2 to 4 were deleted by retention before they were applied (the log starts at 5)")
		}
	}
	// Nothing was applied from the halted partition.
	var s scores.Scores
	require.Equal(t, http.StatusNotFound, getJSON(t, in.base+"/v1/tenants/acme/scores", &s))

	// The runbook (docs/operations.md): accept the loss by resuming from
	// the log start, then restart. What retention kept is counted.
	in.stop()
	require.NoError(t, rdb.HSet(t.Context(), "cxpulse:{p:ret:cx.surveys/0}", "resume", 5).Err())
	again := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr, "CXPULSE_GROUP_ID": "ret"}, newClock(now))
	waitApplied(t, again.base)
	require.Equal(t, http.StatusOK, getJSON(t, again.base+"/v1/tenants/acme/scores", &s))
	require.EqualValues(t, 5, s.Windows["1h"]["nps_responses"])
}

// TestOpsEndpointsProtected: with CXPULSE_PROTECT_OPS_ENDPOINTS=1,
// /metrics and /v1/status ask for a read key; the probes do not.
func TestOpsEndpointsProtected(t *testing.T) {
	_, broker := testenv.Kafka(t, 1, allTopics...)
	_, addr := testenv.Redis(t)
	keys := acmeKeys(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_API_KEYS_FILE": keys, "CXPULSE_INSECURE_NO_AUTH": "0", "CXPULSE_PROTECT_OPS_ENDPOINTS": "1"}, newClock(time.Now()))
	for _, tc := range []struct {
		path, key string
		status    int
	}{
		{"/metrics", "", 401}, {"/metrics", "acme-write", 403}, {"/metrics", "acme-read", 200},
		{"/v1/status", "", 401}, {"/v1/status", "acme-read", 200},
		{"/healthz", "", 200},
	} {
		req, err := http.NewRequest(http.MethodGet, in.base+tc.path, nil)
		require.NoError(t, err)
		if tc.key != "" {
			req.Header.Set("Authorization", "Bearer "+tc.key)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, tc.status, resp.StatusCode, "%s with %q", tc.path, tc.key)
	}
}
