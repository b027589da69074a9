package aggregate_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cxpulse/cxpulse/internal/testenv"
)

func TestZZSpeed(t *testing.T) {
	now := time.Now()
	_, broker := testenv.Kafka(t, 6, allTopics...)
	rdb, addr := testenv.Redis(t)
	g := &generator{rng: rand.New(rand.NewPCG(1, 2)), now: now}
	var msgs []msg
	for range 200000 {
		ev := g.event([]string{"acme", "globex", "initech", "hooli"}[g.rng.IntN(4)])
		ev.OccurredAt = now.Add(-time.Duration(g.rng.IntN(600)) * time.Second)
		msgs = append(msgs, eventMsg(ev))
	}
	produce(t, broker, msgs)
	start := time.Now()
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}, newClock(now))
	waitApplied(t, in.base)
	d := time.Since(start)
	info, _ := rdb.Info(t.Context(), "cpu", "commandstats").Result()
	t.Log(info)
	t.Logf("%d events in %s: %.0f events/s", len(msgs), d, float64(len(msgs))/d.Seconds())
}
