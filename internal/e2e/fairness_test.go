package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// scoresWatch notes when each snapshot on cx.scores was read, by key.
type scoresWatch struct {
	mu   sync.Mutex
	seen map[string][]seenScores
}

type seenScores struct {
	at time.Time
	s  scores.Scores
}

func watchScores(t *testing.T, broker string) *scoresWatch {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics("cx.scores"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	w := &scoresWatch{seen: map[string][]seenScores{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			at := time.Now()
			fs.EachRecord(func(r *kgo.Record) {
				var s scores.Scores
				if json.Unmarshal(r.Value, &s) != nil {
					return
				}
				w.mu.Lock()
				w.seen[string(r.Key)] = append(w.seen[string(r.Key)], seenScores{at, s})
				w.mu.Unlock()
			})
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cl.Close() })
	return w
}

// first returns when the first snapshot of key with the 1h window's
// nps_responses at n was read.
func (w *scoresWatch) first(key string, n float64) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.seen[key] {
		if s.s.Windows["1h"]["nps_responses"] == n {
			return s.at, true
		}
	}
	return time.Time{}, false
}

// TestFairnessManyTenants measures (no timed assertion) how long one event
// of a small tenant takes to show in the API and on cx.scores while
// thousands of other tenants send at once, and while they sit idle
// (CXPULSE_FAIRNESS_TENANTS, default 2000; each sends 4 answers). Every
// count is checked exactly; the figures are logged.
func TestFairnessManyTenants(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of tenants")
	}
	n := 2000
	if v := os.Getenv("CXPULSE_FAIRNESS_TENANTS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(t, err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	_, broker := testenv.Kafka(t, 4, allTopics...)
	_, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}, newClock(now))
	watch := watchScores(t, broker)
	answer := func(tenant, id string) msg {
		return eventMsg(events.Event{ID: id, Type: events.TypeSurveyResponse, Tenant: tenant, OccurredAt: now.Add(-time.Minute),
			Dims: map[string]string{"store": "s1"}, Survey: &events.Survey{Metric: events.MetricNPS, Score: 9}})
	}
	var burst []msg
	for i := range n {
		for k := range 4 {
			burst = append(burst, answer(fmt.Sprintf("t%05d", i), fmt.Sprintf("e%d", k)))
		}
	}
	probe := func(id string, want float64) (api, topic time.Duration) {
		t.Helper()
		start := time.Now()
		require.Eventually(t, func() bool {
			var s scores.Scores
			if getJSON(t, in.base+"/v1/tenants/probe/scores?scope=all", &s) != http.StatusOK || s.Windows["1h"]["nps_responses"] != want {
				return false
			}
			api = time.Since(start)
			return true
		}, 5*time.Minute, 20*time.Millisecond, "the probe never showed")
		require.Eventually(t, func() bool {
			at, ok := watch.first("probe/all", want)
			topic = at.Sub(start)
			return ok
		}, 5*time.Minute, 20*time.Millisecond, "the probe never reached cx.scores")
		return api, topic
	}
	// During the burst: the probe goes with it.
	began := time.Now()
	produce(t, broker, append(burst[:len(burst)/2:len(burst)/2], append([]msg{answer("probe", "p1")}, burst[len(burst)/2:]...)...))
	apiBurst, topicBurst := probe("p1", 1)
	waitApplied(t, in.base)
	all := time.Since(began)
	// Idle: the others sent nothing more.
	time.Sleep(3 * time.Second)
	produce(t, broker, []msg{answer("probe", "p2")})
	apiIdle, topicIdle := probe("p2", 2)
	var s scores.Scores
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/t00007/scores?scope=all", &s))
	require.EqualValues(t, 4, s.Windows["1h"]["nps_responses"])
	t.Logf("%d tenants × 4 answers: all applied in %s; the probe during the burst: API %s, cx.scores %s; with the others idle: API %s, cx.scores %s",
		n, all.Round(time.Millisecond), apiBurst.Round(time.Millisecond), topicBurst.Round(time.Millisecond),
		apiIdle.Round(time.Millisecond), topicIdle.Round(time.Millisecond))
}
