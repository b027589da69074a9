package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/testenv"
)

// TestKnownLabelsStartAtZero: on a healthy aggregator with no dead letter
// and no halt, every dead-letter reason and every claimed partition is on
// /metrics at 0, so that a rate or a panel over them has data.
func TestKnownLabelsStartAtZero(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	_, broker := testenv.Kafka(t, 2, allTopics...)
	_, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}, newClock(now))
	produce(t, broker, surveys("acme", "k", 3, now.Add(-time.Minute)))
	waitApplied(t, in.base)
	for _, reason := range []string{"malformed_json", "invalid_event", "too_late", "in_future", "revision_conflict", "currency_mismatch", "unknown_tenant"} {
		v, ok := metricValue(t, in.base, `cxpulse_dead_letters_total{reason="`+reason+`"}`)
		require.True(t, ok, reason)
		require.Equal(t, "0", v, reason)
	}
	for _, p := range []string{"cx.surveys/0", "cx.surveys/1", "cx.tickets/0", "cx.tickets/1", "cx.purchases/0", "cx.purchases/1"} {
		require.Eventually(t, func() bool {
			v, ok := metricValue(t, in.base, `cxpulse_partition_halted{partition="`+p+`"}`)
			return ok && v == "0"
		}, 10*time.Second, 50*time.Millisecond, p)
	}
}
