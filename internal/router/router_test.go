package router_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/router"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/internal/testseed"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// failCommit fails its first commit, as a router killed between writing a
// batch and committing it.
type failCommit struct {
	*kafka.Reader
	failed bool
}

func (f *failCommit) CommitMessages(ctx context.Context, msgs ...kafka.Message) error {
	if !f.failed {
		f.failed = true
		return errors.New("killed before the commit")
	}
	return f.Reader.CommitMessages(ctx, msgs...)
}

// TestForwardsEveryRecordByTenant: events of many tenants on two input
// topics of three partitions (keyed by tenant and customer, as ingest
// writes them) reach the internal topic, bytes unchanged, each tenant's in
// one partition, with their source positions; a router killed between a
// write and its commit forwards that batch again and loses nothing; a
// record with no readable tenant is forwarded with an empty key (kfake
// over TCP).
func TestForwardsEveryRecordByTenant(t *testing.T) {
	rng := rand.New(rand.NewPCG(testseed.New(t), 23))
	_, broker := testenv.Kafka(t, 3, "cx.surveys", "cx.tickets")
	admin := kafka.Client{Addr: kafka.TCP(broker)}
	_, err := admin.CreateTopics(t.Context(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: router.Topic("cx."), NumPartitions: 4, ReplicationFactor: 1}}})
	require.NoError(t, err)

	w := events.NewWriter([]string{broker})
	t.Cleanup(func() { _ = w.Close() })
	var msgs []kafka.Message
	for i := range 400 {
		tenant := fmt.Sprintf("t%02d", rng.IntN(12))
		topic := []string{"cx.surveys", "cx.tickets"}[rng.IntN(2)]
		value := fmt.Sprintf(`{"tenant":%q,"id":"e%d"}`, tenant, i)
		msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(fmt.Sprintf("%s/c%d", tenant, rng.IntN(50))), Value: []byte(value)})
	}
	msgs = append(msgs, kafka.Message{Topic: "cx.surveys", Key: []byte("x"), Value: []byte("not json")},
		kafka.Message{Topic: "cx.tickets", Key: []byte("t99/c1"), Value: []byte(`{"tenant":"t99","id":"replayed"}`),
			Headers: []kafka.Header{{Key: "cxpulse-replay-of", Value: []byte("cx.tickets/0/7")}, {Key: router.HeaderOffset, Value: []byte("999999")}}})
	require.NoError(t, w.WriteMessages(t.Context(), msgs...))

	out := events.NewWriter([]string{broker})
	t.Cleanup(func() { _ = out.Close() })
	reader := func() *kafka.Reader {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, GroupID: "router", GroupTopics: []string{"cx.surveys", "cx.tickets"},
			MaxWait: 100 * time.Millisecond, StartOffset: kafka.FirstOffset})
		return r
	}
	// The first router is killed between its first write and commit.
	r1 := reader()
	_, err = router.New(&failCommit{Reader: r1}, out, "cx.", 50, 200*time.Millisecond).Once(t.Context())
	require.ErrorContains(t, err, "killed before the commit")
	require.NoError(t, r1.Close())
	// Its successor forwards everything.
	r2 := reader()
	t.Cleanup(func() { _ = r2.Close() })
	rt := router.New(r2, out, "cx.", 50, 200*time.Millisecond)
	forwarded := 0
	for forwarded < len(msgs) {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		n, err := rt.Once(ctx)
		cancel()
		require.NoError(t, err)
		forwarded += n
	}

	total := testenv.Count(t, broker, router.Topic("cx."))
	require.Greater(t, total, int64(len(msgs)), "the batch of the killed router came again")
	require.LessOrEqual(t, total, int64(len(msgs)+50))
	recs := testenv.Consume(t, broker, router.Topic("cx."), int(total))
	seen := map[string]int{}
	partitionOf := map[string]int32{}
	byValue := map[string]string{}
	for _, m := range msgs {
		byValue[string(m.Value)] = m.Topic
	}
	for _, r := range recs {
		km := kafka.Message{Headers: make([]kafka.Header, len(r.Headers))}
		for i, h := range r.Headers {
			km.Headers[i] = kafka.Header{Key: h.Key, Value: h.Value}
		}
		if router.TenantOf(r.Value) == "t99" {
			require.Equal(t, "cxpulse-replay-of", r.Headers[0].Key, "a replay's mark goes along")
			require.Len(t, r.Headers, 4, "the record's own source claim is replaced")
		}
		topic, part, off, ok := router.SourceOf(km)
		require.True(t, ok, "headers %v", r.Headers)
		require.Equal(t, byValue[string(r.Value)], topic, "bytes unchanged, source named")
		seen[fmt.Sprintf("%s/%d/%d", topic, part, off)]++
		tenant := router.TenantOf(r.Value)
		require.Equal(t, tenant, string(r.Key))
		if p, ok := partitionOf[tenant]; ok {
			require.Equal(t, p, r.Partition, "tenant %s in one partition", tenant)
		}
		partitionOf[tenant] = r.Partition
	}
	require.Len(t, seen, len(msgs), "every input record forwarded")
	require.Contains(t, partitionOf, "", "the record with no tenant")
	spread := map[int32]bool{}
	for _, p := range partitionOf {
		spread[p] = true
	}
	require.Greater(t, len(spread), 1, "tenants spread over the partitions")
}
