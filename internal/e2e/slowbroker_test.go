package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/api"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// TestSlowBrokerNeverHaltsAHealthyPartition: a broker that answers offset
// queries a second late, while events keep arriving for longer than two
// log watches, halts no partition, and every event counts once.
func TestSlowBrokerNeverHaltsAHealthyPartition(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	c, broker := testenv.Kafka(t, 2, allTopics...)
	_, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}, newClock(now))
	testenv.SlowListOffsets(t, c, broker, time.Second)

	sent := 0
	for deadline := time.Now().Add(12 * time.Second); time.Now().Before(deadline); {
		var batch []msg
		for i := range 20 {
			batch = append(batch, eventMsg(survey(fmt.Sprintf("e-%d", sent+i), "acme", fmt.Sprintf("s%d", i%4), 9, now.Add(-time.Minute))))
		}
		produce(t, broker, batch)
		sent += len(batch)
		time.Sleep(40 * time.Millisecond)
	}
	waitApplied(t, in.base)

	var st api.Status
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/status", &st))
	for _, p := range st.Partitions {
		require.Empty(t, p.Halted, "%s/%d", p.Topic, p.Partition)
	}
	var got scores.Scores
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/scores", &got))
	require.EqualValues(t, sent, got.Windows["1h"]["nps_responses"])
	require.EqualValues(t, sent, got.Windows["1h"]["nps_promoters"])
	t.Logf("%d events over two log watches, no halt", sent)
}
