package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxpulse/cxpulse/internal/redisproc"
	"github.com/cxpulse/cxpulse/internal/traffic"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// Config sets the size of a run.
type Config struct {
	Events      int
	Partitions  int
	Out         string
	LatencyRate int
	// SkipBaselines skips the ceiling and naive phases (for a quicker look
	// at the aggregator alone); the results file is then not written.
	SkipBaselines bool
}

// Results is what bench/results.json holds.
type Results struct {
	Date               string         `json:"date"`
	Events             int            `json:"events"`
	EventMix           map[string]int `json:"event_mix"`
	Tenants            int            `json:"tenants"`
	Partitions         int            `json:"partitions_per_topic"`
	CeilingEPS         float64        `json:"ceiling_eps"`
	DecodeCeilingEPS   float64        `json:"decode_ceiling_eps"`
	NaiveEPS           float64        `json:"naive_eps"`
	AggregatorEPS      float64        `json:"aggregator_eps"`
	LatencyRate        int            `json:"latency_rate_eps"`
	LatencyP50Ms       float64        `json:"latency_p50_ms"`
	LatencyP99Ms       float64        `json:"latency_p99_ms"`
	RecoveryS          float64        `json:"recovery_s"`
	SessionWaitS       float64        `json:"session_wait_s"`
	RedisBytesPerScope float64        `json:"redis_bytes_per_scope"`
	// RedisBusy is the share of one core Redis used during the aggregator
	// phase: near 1 means Redis bounds the aggregator.
	RedisBusy float64 `json:"redis_busy_during_aggregator"`
	// CPU used per event applied during the aggregator phase, in
	// microseconds: by the aggregator process, by Redis and by the broker.
	AggregatorCPUus float64 `json:"aggregator_cpu_us_per_event"`
	RedisCPUus      float64 `json:"redis_cpu_us_per_event"`
	BrokerCPUus     float64 `json:"broker_cpu_us_per_event"`
	// RedisCommands are the commands that took most of Redis's time during
	// the aggregator phase (commands run by scripts included).
	RedisCommands []CommandStat `json:"redis_commands_during_aggregator"`
}

// CommandStat is one line of Redis INFO commandstats.
type CommandStat struct {
	Command string  `json:"command"`
	Calls   int64   `json:"calls"`
	Seconds float64 `json:"seconds"`
}

var tenantNames = []string{"acme", "globex", "initech", "hooli", "umbrella", "stark"}

// Run performs every phase and writes the table to out and the results
// to cfg.Out.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	if err := os.MkdirAll(filepath.Dir(cfg.Out), 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "cxpulse-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	res := Results{Date: time.Now().UTC().Format(time.RFC3339), Events: cfg.Events, Tenants: len(tenantNames),
		Partitions: cfg.Partitions, LatencyRate: cfg.LatencyRate, EventMix: map[string]int{}}

	fmt.Fprintf(out, "building the aggregator, starting the broker process and redis-server…\n")
	bin, err := buildAggregator(ctx, dir)
	if err != nil {
		return err
	}
	broker, brokerPID, stopBroker, err := startBroker(cfg.Partitions)
	if err != nil {
		return err
	}
	defer stopBroker()
	redisBin, err := execLookPath("redis-server")
	if err != nil {
		return errors.New("redis-server is not installed (apt-get install redis-server)")
	}
	rs, err := redisproc.Start(redisBin, "")
	if err != nil {
		return err
	}
	defer rs.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()

	// The same events for every phase, produced once.
	now := time.Now()
	gen := traffic.New(42, tenantNames...)
	values := make([][]byte, cfg.Events)
	keys := make([][]byte, cfg.Events)
	topics := make([]string, cfg.Events)
	var bytes int
	for i := range values {
		ev := gen.Next(now.Add(-time.Duration(gen.Int63n(int64(6 * time.Hour)))))
		res.EventMix[string(ev.Type)]++
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		values[i], keys[i], topics[i] = b, []byte(ev.Key()), ev.Topic(events.DefaultTopicPrefix)
		bytes += len(b)
	}
	fmt.Fprintf(out, "producing %d events (mean %d bytes) to %d partitions per topic…\n", cfg.Events, bytes/cfg.Events, cfg.Partitions)
	if err := produceAll(ctx, broker, topics, keys, values); err != nil {
		return err
	}

	phases := []struct {
		name string
		dst  *float64
		run  func(context.Context) (float64, error)
	}{
		{"raw kafka-go group consumption (ceiling)", &res.CeilingEPS, func(ctx context.Context) (float64, error) {
			return consumeAll(ctx, broker, "bench-raw", cfg.Events, func() func(kafka.Message) error { return func(kafka.Message) error { return nil } })
		}},
		{"+ the aggregator's decoder and validator (decode ceiling)", &res.DecodeCeilingEPS, func(ctx context.Context) (float64, error) {
			return consumeAll(ctx, broker, "bench-decode", cfg.Events, func() func(kafka.Message) error {
				d := events.NewDecoder(events.Tolerant)
				return func(m kafka.Message) error { _, _, _ = d.Decode(m.Value); return nil }
			})
		}},
		{"naive consumer: per event one pipelined round trip of HINCRBYs", &res.NaiveEPS, func(ctx context.Context) (float64, error) {
			return consumeAll(ctx, broker, "bench-naive", cfg.Events, func() func(kafka.Message) error { return naive(ctx, rdb) })
		}},
	}
	if cfg.SkipBaselines {
		phases = nil
	}
	for _, ph := range phases {
		fmt.Fprintf(out, "phase: %s…\n", ph.name)
		eps, err := ph.run(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", ph.name, err)
		}
		*ph.dst = eps
	}

	fmt.Fprintf(out, "phase: the aggregator, exactly-once…\n")
	env := []string{"CXPULSE_KAFKA_BROKERS=" + broker, "CXPULSE_REDIS_URL=redis://" + rs.Addr, "CXPULSE_INSECURE_NO_AUTH=1",
		"CXPULSE_GROUP_ID=bench-agg", "CXPULSE_LOG_FORMAT=json", "CXPULSE_DEBUG_PPROF=1"}
	agg, err := startAggregator(bin, dir, "aggregator-1", env)
	if err != nil {
		return err
	}
	defer func() { agg.kill() }()
	profDone := profile(agg.base, filepath.Join(filepath.Dir(cfg.Out), "aggregator.cpu.prof"), 5*time.Second)
	_ = rdb.ConfigResetStat(ctx).Err()
	cpu0, t0 := redisCPU(ctx, rdb), time.Now()
	agg0, broker0 := processCPU(agg.cmd.Process.Pid), processCPU(brokerPID)
	if res.AggregatorEPS, err = measureAggregator(ctx, agg, int64(cfg.Events)); err != nil {
		return fmt.Errorf("aggregator: %w", err)
	}
	redisUsed := redisCPU(ctx, rdb) - cpu0
	res.RedisBusy = redisUsed / time.Since(t0).Seconds()
	perEvent := 1e6 / float64(cfg.Events)
	res.AggregatorCPUus = (processCPU(agg.cmd.Process.Pid) - agg0) * perEvent
	res.RedisCPUus = redisUsed * perEvent
	res.BrokerCPUus = (processCPU(brokerPID) - broker0) * perEvent
	res.RedisCommands = commandStats(ctx, rdb, 8)
	<-profDone

	fmt.Fprintf(out, "phase: latency at %d events/s…\n", cfg.LatencyRate)
	load := startLoad(ctx, broker, gen, cfg.LatencyRate)
	if res.LatencyP50Ms, res.LatencyP99Ms, err = measureLatency(ctx, broker, rdb, 15*time.Second); err != nil {
		load.stop()
		return fmt.Errorf("latency: %w", err)
	}
	fmt.Fprintf(out, "phase: kill -9 and restart…\n")
	load.stop()
	agg.kill()
	restarted := time.Now()
	agg, err = startAggregator(bin, dir, "aggregator-2", env)
	if err != nil {
		return err
	}
	if res.SessionWaitS, res.RecoveryS, err = measureRecovery(ctx, agg, restarted); err != nil {
		return fmt.Errorf("recovery: %w", err)
	}
	if res.RedisBytesPerScope, err = bytesPerScope(ctx, rdb, tenantNames[0]); err != nil {
		return err
	}

	printTable(out, &res)
	if cfg.SkipBaselines {
		return nil // a partial run does not replace the results file
	}
	b, err := json.MarshalIndent(&res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(cfg.Out, append(b, '\n'), 0o644)
}

func produceAll(ctx context.Context, broker string, topics []string, keys, values [][]byte) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MaxBufferedRecords(1<<20),
		kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		return err
	}
	defer cl.Close()
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range values {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: topics[i], Key: keys[i], Value: values[i]}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				firstErr = errors.Join(firstErr, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return firstErr
}

// consumeAll consumes every input partition as consumer group `group`,
// calling a fresh handler per partition for each message, until n
// messages are seen; it returns messages per second from the first message
// to the last.
func consumeAll(ctx context.Context, broker, group string, n int, handler func() func(kafka.Message) error) (float64, error) {
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{ID: group, Brokers: []string{broker}, Topics: InputTopics,
		StartOffset: kafka.FirstOffset, SessionTimeout: 10 * time.Second, HeartbeatInterval: time.Second})
	if err != nil {
		return 0, err
	}
	defer cg.Close()
	var seen atomic.Int64
	var first, last atomic.Int64
	done := make(chan struct{})
	var once sync.Once
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	gen, err := cg.Next(ctx)
	if err != nil {
		return 0, err
	}
	var herr atomic.Value
	for topic, parts := range gen.Assignments {
		for _, p := range parts {
			topic, id := topic, p.ID
			gen.Start(func(gctx context.Context) {
				r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: topic, Partition: id,
					MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 250 * time.Millisecond, QueueCapacity: 2000})
				defer r.Close()
				_ = r.SetOffset(kafka.FirstOffset)
				h := handler()
				for {
					m, err := r.FetchMessage(gctx)
					if err != nil {
						return
					}
					first.CompareAndSwap(0, time.Now().UnixNano())
					if err := h(m); err != nil {
						herr.Store(err)
					}
					if seen.Add(1) == int64(n) {
						last.Store(time.Now().UnixNano())
						once.Do(func() { close(done) })
					}
				}
			})
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		return 0, fmt.Errorf("consumed %d of %d: %w", seen.Load(), n, ctx.Err())
	}
	if e, ok := herr.Load().(error); ok {
		return 0, e
	}
	return float64(n) / (time.Duration(last.Load() - first.Load()).Seconds()), nil
}

// naive is the consumer a user would hand-roll: decode, then per event one
// pipelined round trip of HINCRBYs on per-scope, per-window bucket hashes.
// No dedupe, no exactly-once.
func naive(ctx context.Context, rdb *redis.Client) func(kafka.Message) error {
	d := events.NewDecoder(events.Tolerant)
	windows := []struct {
		name   string
		bucket time.Duration
	}{{"1h", 2 * time.Minute}, {"24h", time.Hour}, {"7d", 6 * time.Hour}, {"30d", 24 * time.Hour}, {"90d", 72 * time.Hour}}
	return func(m kafka.Message) error {
		ev, _, err := d.Decode(m.Value)
		if err != nil {
			return nil
		}
		var fields []string
		switch {
		case ev.Survey != nil:
			fields = append(fields, string(ev.Survey.Metric)+"_responses")
			if ev.Survey.Metric == events.MetricNPS && ev.Survey.Score >= 9 {
				fields = append(fields, "nps_promoters")
			} else if ev.Survey.Metric == events.MetricNPS && ev.Survey.Score <= 6 {
				fields = append(fields, "nps_detractors")
			}
		case ev.Ticket != nil:
			fields = append(fields, strings.ReplaceAll(string(ev.Type), ".", "_"))
		default:
			return nil
		}
		scopes := []string{"all"}
		for k, v := range ev.Dims {
			scopes = append(scopes, k+"="+v)
		}
		pipe := rdb.Pipeline()
		for _, sc := range scopes {
			for _, w := range windows {
				key := "naive:" + ev.Tenant + ":" + sc + ":" + w.name + ":" + strconv.FormatInt(ev.OccurredAt.UnixMilli()/w.bucket.Milliseconds(), 10)
				for _, f := range fields {
					pipe.HIncrBy(ctx, key, f, 1)
				}
			}
		}
		_, err = pipe.Exec(ctx)
		return err
	}
}

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

// measureLatency sends a marker event every 50 ms, each in a scope of its
// own, and measures from its produce acknowledgement to the moment its
// view exists in Redis.
func measureLatency(ctx context.Context, broker string, rdb *redis.Client, span time.Duration) (p50, p99 float64, err error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	run := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	var mu sync.Mutex
	var lat []float64
	var wg sync.WaitGroup
	for k := 0; time.Duration(k)*50*time.Millisecond < span; k++ {
		scope := fmt.Sprintf("m%s-%d", run, k)
		ev := events.Event{ID: "lat-" + scope, Type: events.TypeSurveyResponse, Tenant: "latency", OccurredAt: time.Now(),
			Dims: map[string]string{"store": scope}, Survey: &events.Survey{Metric: events.MetricNPS, Score: 9}}
		b, _ := json.Marshal(ev)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: ev.Topic(events.DefaultTopicPrefix), Key: []byte(ev.Key()), Value: b}).FirstErr(); err != nil {
			return 0, 0, err
		}
		acked := time.Now()
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "cxpulse:{latency}:scores:store=" + scope
			for deadline := acked.Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				if n, _ := rdb.Exists(ctx, key).Result(); n == 1 {
					mu.Lock()
					lat = append(lat, float64(time.Since(acked).Microseconds())/1000)
					mu.Unlock()
					return
				}
			}
		}()
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	if len(lat) == 0 {
		return 0, 0, errors.New("no marker reached the view")
	}
	sort.Float64s(lat)
	q := func(p float64) float64 { return lat[int(math.Ceil(p*float64(len(lat))))-1] }
	return q(0.50), q(0.99), nil
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

func printTable(out io.Writer, r *Results) {
	ratio := func(a, b float64) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", a/b)
	}
	fmt.Fprintf(out, "\ncxpulse bench, %s: %d events (%s), %d tenants, %d partitions per topic\n\n", r.Date, r.Events, mix(r.EventMix), r.Tenants, r.Partitions)
	fmt.Fprintf(out, "| measure | value | target |\n| --- | --- | --- |\n")
	fmt.Fprintf(out, "| raw kafka-go ceiling | %.0f events/s | |\n", r.CeilingEPS)
	fmt.Fprintf(out, "| decode ceiling | %.0f events/s | |\n", r.DecodeCeilingEPS)
	fmt.Fprintf(out, "| naive consumer | %.0f events/s | |\n", r.NaiveEPS)
	fmt.Fprintf(out, "| aggregator, exactly-once | %.0f events/s | ≥ 100000 |\n", r.AggregatorEPS)
	fmt.Fprintf(out, "| aggregator / decode ceiling | %s | ≥ 0.50 |\n", ratio(r.AggregatorEPS, r.DecodeCeilingEPS))
	fmt.Fprintf(out, "| aggregator / naive | %s | ≥ 3 |\n", ratio(r.AggregatorEPS, r.NaiveEPS))
	fmt.Fprintf(out, "| latency p50 / p99 at %d events/s | %.0f / %.0f ms | p99 ≤ 250 ms |\n", r.LatencyRate, r.LatencyP50Ms, r.LatencyP99Ms)
	fmt.Fprintf(out, "| kill -9: session-timeout wait | %.1f s | reported |\n", r.SessionWaitS)
	fmt.Fprintf(out, "| kill -9: reassigned to caught up | %.1f s | ≤ 5 s |\n", r.RecoveryS)
	fmt.Fprintf(out, "| Redis bytes per active scope | %.0f | ≤ 65536 |\n", r.RedisBytesPerScope)
	fmt.Fprintf(out, "| Redis busy during the aggregator phase | %.0f %% of a core | |\n", 100*r.RedisBusy)
	fmt.Fprintf(out, "| CPU per event: aggregator / Redis / broker | %.1f / %.1f / %.1f µs | |\n", r.AggregatorCPUus, r.RedisCPUus, r.BrokerCPUus)
	if len(r.RedisCommands) > 0 {
		fmt.Fprintf(out, "\nRedis time by command during the aggregator phase (scripts' commands included in evalsha):\n\n| command | calls | seconds |\n| --- | --- | --- |\n")
		for _, c := range r.RedisCommands {
			fmt.Fprintf(out, "| %s | %d | %.2f |\n", c.Command, c.Calls, c.Seconds)
		}
	}
}

func mix(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// profile saves a CPU profile of the aggregator taken over the first d of
// its run (started once it answers), for go tool pprof.
func profile(base, path string, d time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, int(d.Seconds())))
			if err != nil {
				continue
			}
			defer resp.Body.Close()
			if f, err := os.Create(path); err == nil {
				_, _ = io.Copy(f, resp.Body)
				_ = f.Close()
			}
			return
		}
	}()
	return done
}

// commandStats returns the n commands Redis spent most time on since the
// last CONFIG RESETSTAT.
func commandStats(ctx context.Context, rdb *redis.Client, n int) []CommandStat {
	info, err := rdb.InfoMap(ctx, "commandstats").Result()
	if err != nil {
		return nil
	}
	var out []CommandStat
	for k, v := range info["Commandstats"] {
		st := CommandStat{Command: strings.TrimPrefix(k, "cmdstat_")}
		for part := range strings.SplitSeq(v, ",") {
			name, val, _ := strings.Cut(part, "=")
			switch name {
			case "calls":
				st.Calls, _ = strconv.ParseInt(val, 10, 64)
			case "usec":
				us, _ := strconv.ParseFloat(val, 64)
				st.Seconds = us / 1e6
			}
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b CommandStat) int { return cmp.Compare(b.Seconds, a.Seconds) })
	return out[:min(n, len(out))]
}

// redisCPU returns the CPU seconds Redis has used.
func redisCPU(ctx context.Context, rdb *redis.Client) float64 {
	info, err := rdb.InfoMap(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	u, _ := strconv.ParseFloat(info["CPU"]["used_cpu_user"], 64)
	s, _ := strconv.ParseFloat(info["CPU"]["used_cpu_sys"], 64)
	return u + s
}
