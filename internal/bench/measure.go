package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxpulse/cxpulse/internal/traffic"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// The aggregator phases' measurements: throughput, latency under load,
// recovery after kill -9 and memory per scope.

// metricSum reads the sum of a counter from the aggregator's /metrics.
func metricSum(base, name string) (float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var sum float64
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, name) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum, nil
}

// measureAggregator polls the consumed counter until n messages are
// applied; the rate runs from the first applied batch to the last.
func measureAggregator(ctx context.Context, p *aggregatorProcess, n int64) (float64, error) {
	var first time.Time
	deadline := time.Now().Add(8 * time.Minute)
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		v, err := metricSum(p.base, "cxpulse_events_consumed_total")
		if err == nil {
			if v > 0 && first.IsZero() {
				first = time.Now()
			}
			if int64(v) >= n {
				return float64(n) / time.Since(first).Seconds(), nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0, fmt.Errorf("not all %d events applied in time; log in %s", n, p.log)
}

type load struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (l *load) stop() { l.cancel(); <-l.done }

// startLoad produces generated events at rate per second until stopped.
func startLoad(ctx context.Context, broker string, gen *traffic.Generator, rate int) *load {
	ctx, cancel := context.WithCancel(ctx)
	l := &load{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond))
		if err != nil {
			return
		}
		defer cl.Close()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		per := max(1, rate/100)
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for range per {
				ev := gen.Next(time.Now())
				b, _ := json.Marshal(ev)
				cl.Produce(ctx, &kgo.Record{Topic: ev.Topic(events.DefaultTopicPrefix), Key: []byte(ev.Key()), Value: b}, nil)
			}
		}
	}()
	return l
}

// measureRecovery waits for the restarted aggregator to be assigned its
// partitions (the first "partition claimed" in its log) and then to reach
// lag 0; it returns both spans.
func measureRecovery(ctx context.Context, p *aggregatorProcess, restarted time.Time) (sessionWait, recovery float64, err error) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		resp, err := http.Get(p.base + "/v1/status")
		if err == nil {
			var st struct{ Lag int64 }
			_ = json.NewDecoder(resp.Body).Decode(&st)
			_ = resp.Body.Close()
			if claimed, ok := p.firstLog("partition claimed"); ok && resp.StatusCode == http.StatusOK && st.Lag == 0 {
				return claimed.Sub(restarted).Seconds(), time.Since(claimed).Seconds(), nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, 0, fmt.Errorf("did not catch up; log in %s", p.log)
}

// bytesPerScope sums MEMORY USAGE over a tenant's per-scope keys and its
// expiry set, divided by its scopes.
func bytesPerScope(ctx context.Context, rdb *redis.Client, tenant string) (float64, error) {
	scopes, err := rdb.SMembers(ctx, "cxpulse:{"+tenant+"}:scopes").Result()
	if err != nil || len(scopes) == 0 {
		return 0, fmt.Errorf("no scopes for %s: %v", tenant, err)
	}
	total, err := rdb.MemoryUsage(ctx, "cxpulse:{"+tenant+"}:exp", 0).Result()
	if err != nil {
		return 0, err
	}
	for _, sc := range scopes {
		for _, k := range []string{"cxpulse:{" + tenant + "}:s:" + sc, "cxpulse:{" + tenant + "}:scores:" + sc} {
			n, err := rdb.MemoryUsage(ctx, k, 0).Result()
			if err != nil {
				return 0, fmt.Errorf("%s: %w", k, err)
			}
			total += n
		}
	}
	return float64(total) / float64(len(scopes)), nil
}
