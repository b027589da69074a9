package logwatch

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/cxpulse/cxpulse/internal/testenv"
)

// TestWatchSlowBroker: a broker that answers offset queries 300 ms late
// while messages keep coming and the reader keeps fetching them never
// makes the watch halt the partition; a log that really ends below the
// next offset does, after a second look.
func TestWatchSlowBroker(t *testing.T) {
	const topic = "cx.surveys"
	c, addr := testenv.Kafka(t, 1, topic)
	testenv.SlowListOffsets(t, c, addr, 300*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Second)
	defer cancel()

	prod, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))
	require.NoError(t, err)
	defer prod.Close()
	go func() {
		for i := 0; ctx.Err() == nil; i++ {
			prod.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "m-%d", i)}, nil)
			time.Sleep(200 * time.Microsecond)
		}
	}()

	lw := &Partition{Admin: &kafka.Client{Addr: kafka.TCP(addr), Timeout: 5 * time.Second}, Topic: topic, Every: 150 * time.Millisecond}
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(50*time.Millisecond))
	require.NoError(t, err)
	defer cons.Close()
	go func() {
		for ctx.Err() == nil {
			cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { lw.Next.Store(r.Offset + 1) })
		}
	}()

	var halted atomic.Value
	lw.Watch(ctx, zaptest.NewLogger(t), func(reason string) { halted.Store(reason) })
	require.Nil(t, halted.Load(), "a slow broker is not a recreated topic")
	require.Greater(t, lw.Next.Load(), int64(1000), "the reader kept fetching")

	// A log that ends below the next offset at two looks halts.
	lw.Next.Store(lw.Next.Load() + 1_000_000)
	ctx2, cancel2 := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel2()
	lw.Watch(ctx2, zaptest.NewLogger(t), func(reason string) { halted.Store(reason); cancel2() })
	require.Contains(t, halted.Load(), "the topic was deleted and recreated")
}
