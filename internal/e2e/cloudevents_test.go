package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxpulse/cxpulse/internal/deadletter"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// TestCloudEventsOnKafka: the aggregator counts CloudEvents in binary mode
// (the Kafka protocol binding: ce_* headers, the data as the value) like
// any event, and dead-letters one that carries no event as invalid_event
// naming the attribute.
func TestCloudEventsOnKafka(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	_, broker := testenv.Kafka(t, 2, allTopics...)
	_, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}, newClock(now))
	record := func(id string, score int, withTime bool) *kgo.Record {
		h := []kgo.RecordHeader{{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte(id)},
			{Key: "ce_source", Value: []byte("/kiosk")}, {Key: "ce_type", Value: []byte("com.cxpulse.survey.response")},
			{Key: "ce_cxpulsetenant", Value: []byte("acme")}, {Key: "content-type", Value: []byte("application/json")}}
		if withTime {
			h = append(h, kgo.RecordHeader{Key: "ce_time", Value: []byte(now.Add(-time.Minute).Format(time.RFC3339))})
		}
		return &kgo.Record{Topic: "cx.surveys", Key: []byte("acme/" + id), Headers: h,
			Value: fmt.Appendf(nil, `{"dims":{"store":"s1"},"survey":{"metric":"nps","score":%d}}`, score)}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs := []*kgo.Record{record("k-1", 10, true), record("k-2", 2, true), record("k-2", 2, true), record("k-3", 9, false)}
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
	waitApplied(t, in.base)
	var s scores.Scores
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/scores?scope=store=s1", &s))
	require.EqualValues(t, 2, s.Windows["1h"]["nps_responses"], "two answers, one of them sent twice")
	require.EqualValues(t, 1, s.Windows["1h"]["nps_promoters"])
	require.EqualValues(t, 1, s.Windows["1h"]["nps_detractors"])
	letters := waitDeadLetters(t, broker, 1)
	require.Equal(t, deadletter.ReasonInvalid, letters[fmt.Sprintf("cx.surveys/%d/%d", recs[3].Partition, recs[3].Offset)])
	detail := ""
	for _, rec := range testenv.Consume(t, broker, "cx.deadletter", 1) {
		for _, h := range rec.Headers {
			if h.Key == "cxpulse-detail" {
				detail = string(h.Value)
			}
		}
	}
	require.Equal(t, "time: required", detail)
}
