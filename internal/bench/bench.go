package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	// RedisArgs are extra redis-server arguments (a server setting to
	// measure, as "--hash-max-listpack-entries" "128").
	RedisArgs []string
}

// Results is what bench/results.json holds.
type Results struct {
	Date             string         `json:"date"`
	Events           int            `json:"events"`
	EventMix         map[string]int `json:"event_mix"`
	Tenants          int            `json:"tenants"`
	Partitions       int            `json:"partitions_per_topic"`
	CeilingEPS       float64        `json:"ceiling_eps"`
	DecodeCeilingEPS float64        `json:"decode_ceiling_eps"`
	NaiveEPS         float64        `json:"naive_eps"`
	AggregatorEPS    float64        `json:"aggregator_eps"`
	LatencyRate      int            `json:"latency_rate_eps"`
	// Latency from the produce acknowledgement to the view, on scopes
	// that exist and on scopes the marker creates.
	LatencyExistingP50Ms float64 `json:"latency_existing_p50_ms"`
	LatencyExistingP99Ms float64 `json:"latency_existing_p99_ms"`
	LatencyNewScopeP50Ms float64 `json:"latency_new_scope_p50_ms"`
	LatencyNewScopeP99Ms float64 `json:"latency_new_scope_p99_ms"`
	// ApplyCycleSeconds is the histogram of apply cycles (one fetched
	// batch) during the latency phase: cumulative count by upper bound.
	ApplyCycleSeconds  map[string]float64 `json:"apply_cycle_seconds_buckets"`
	RecoveryS          float64            `json:"recovery_s"`
	SessionWaitS       float64            `json:"session_wait_s"`
	RedisBytesPerScope float64            `json:"redis_bytes_per_scope"`
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
	// RedisOpUs is Redis's CPU per pipelined HSET of one 60-byte field
	// into a large hash, in µs: the unit of Redis work on this machine;
	// RedisOpsPerEvent is RedisCPUus in that unit.
	RedisOpUs        float64 `json:"redis_op_us"`
	RedisOpsPerEvent float64 `json:"redis_ops_per_event"`
	// DecodeCPUus is the CPU per event of the decode-ceiling phase (Kafka
	// consumption and decoding); AggregatorCPUvsDecode the aggregator's
	// CPU per event in that unit.
	DecodeCPUus           float64 `json:"decode_cpu_us_per_event"`
	AggregatorCPUvsDecode float64 `json:"aggregator_cpu_vs_decode"`
	// Grown* are the CPU per event measured again once the state has grown
	// (the main phase's ids remembered, GrowCustomers customers with
	// histories, GrowScopes more scopes); CostGrowth is the aggregator's
	// and Redis's together, grown over fresh, and the two others each.
	GrownAggregatorCPUus float64 `json:"grown_aggregator_cpu_us_per_event"`
	GrownRedisCPUus      float64 `json:"grown_redis_cpu_us_per_event"`
	CostGrowth           float64 `json:"cost_growth"`
	CostGrowthAggregator float64 `json:"cost_growth_aggregator"`
	CostGrowthRedis      float64 `json:"cost_growth_redis"`
	// Spread* are the CPU per event on the grown state when half the
	// events go to the grown customers and stores, each scope and customer
	// touched by few events of a slice.
	SpreadAggregatorCPUus float64 `json:"spread_aggregator_cpu_us_per_event"`
	SpreadRedisCPUus      float64 `json:"spread_redis_cpu_us_per_event"`
	// ScriptSections is the Redis time of each script section
	// (CXPULSE_DEBUG_SCRIPT_PROFILE) in µs per event applied, during the
	// aggregator phase; LatencyScriptSections during the latency phase,
	// where slices are small and per-scope work weighs more.
	ScriptSections        map[string]float64 `json:"redis_script_us_per_event"`
	LatencyScriptSections map[string]float64 `json:"latency_redis_script_us_per_event"`
	// GrownScriptSections are the same on the grown state, the usual mix.
	GrownScriptSections map[string]float64 `json:"grown_redis_script_us_per_event"`
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
	rs, err := redisproc.Start(redisBin, "", cfg.RedisArgs...)
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
			cpu0 := processCPU(os.Getpid())
			eps, err := consumeAll(ctx, broker, "bench-decode", cfg.Events, func() func(kafka.Message) error {
				d := events.NewDecoder(events.Tolerant)
				return func(m kafka.Message) error { _, _, _ = d.Decode(m.Value); return nil }
			})
			res.DecodeCPUus = (processCPU(os.Getpid()) - cpu0) * 1e6 / float64(cfg.Events)
			return eps, err
		}},
		{"naive consumer: per event one pipelined round trip of HINCRBYs", &res.NaiveEPS, func(ctx context.Context) (float64, error) {
			return consumeAll(ctx, broker, "bench-naive", cfg.Events, func() func(kafka.Message) error { return naive(ctx, rdb) })
		}},
	}
	if cfg.SkipBaselines {
		phases = nil
	}
	fmt.Fprintf(out, "phase: the unit of Redis work (pipelined HSETs into a large hash)…\n")
	if res.RedisOpUs, err = redisOpUs(ctx, rdb); err != nil {
		return err
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
		"CXPULSE_GROUP_ID=bench-agg", "CXPULSE_LOG_FORMAT=json", "CXPULSE_DEBUG_PPROF=1", "CXPULSE_DEBUG_SCRIPT_PROFILE=1"}
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
	if res.ScriptSections, err = scriptSections(ctx, rdb, cfg.Events); err != nil {
		return err
	}
	if res.RedisOpUs > 0 {
		res.RedisOpsPerEvent = res.RedisCPUus / res.RedisOpUs
	}
	if res.DecodeCPUus > 0 {
		res.AggregatorCPUvsDecode = res.AggregatorCPUus / res.DecodeCPUus
	}
	<-profDone

	// Latency at a quarter of the capacity this run measured, unless a
	// rate is given: a fixed rate means something else on every machine.
	if res.LatencyRate == 0 {
		res.LatencyRate = int(0.25 * res.AggregatorEPS)
	}
	fmt.Fprintf(out, "phase: latency at %d events/s…\n", res.LatencyRate)
	load, err := latencyPhase(ctx, agg, broker, rdb, gen, &res)
	if err != nil {
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
	fmt.Fprintf(out, "phase: cost per event on a grown state (%d more customers, %d more scopes)…\n", GrowCustomers, GrowScopes)
	same, spread, err := measureGrowth(ctx, broker, rdb, agg, gen, filepath.Join(filepath.Dir(cfg.Out), "aggregator.grown.cpu.prof"))
	if err != nil {
		return err
	}
	res.GrownAggregatorCPUus, res.GrownRedisCPUus, res.GrownScriptSections = same.agg, same.redis, same.sections
	res.SpreadAggregatorCPUus, res.SpreadRedisCPUus = spread.agg, spread.redis
	if fresh := res.AggregatorCPUus + res.RedisCPUus; fresh > 0 {
		res.CostGrowth = (res.GrownAggregatorCPUus + res.GrownRedisCPUus) / fresh
		res.CostGrowthAggregator = res.GrownAggregatorCPUus / res.AggregatorCPUus
		res.CostGrowthRedis = res.GrownRedisCPUus / res.RedisCPUus
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

// latencyPhase starts the load at res.LatencyRate and measures, under it,
// the latency of markers, the apply cycles and the script sections per
// event consumed; the load keeps running for the caller to stop.
func latencyPhase(ctx context.Context, agg *aggregatorProcess, broker string, rdb *redis.Client, gen *traffic.Generator, res *Results) (*load, error) {
	// The script profile of this phase starts empty and is divided by the
	// events the aggregator consumed during it.
	if _, err := scriptSections(ctx, rdb, 1); err != nil {
		return nil, err
	}
	consumed0, err := metricSum(agg.base, "cxpulse_events_consumed_total")
	if err != nil {
		return nil, err
	}
	cycles0, err := histogram(agg.base, "cxpulse_batch_apply_seconds")
	if err != nil {
		return nil, err
	}
	ld := startLoad(ctx, broker, gen, res.LatencyRate)
	fail := func(err error) (*load, error) {
		ld.stop()
		return nil, err
	}
	lat, err := measureLatency(ctx, broker, rdb, 15*time.Second)
	if err != nil {
		return fail(err)
	}
	res.LatencyExistingP50Ms, res.LatencyExistingP99Ms, res.LatencyNewScopeP50Ms, res.LatencyNewScopeP99Ms = lat.ExistingP50, lat.ExistingP99, lat.NewP50, lat.NewP99
	cycles1, err := histogram(agg.base, "cxpulse_batch_apply_seconds")
	if err != nil {
		return fail(err)
	}
	res.ApplyCycleSeconds = histogramDelta(cycles0, cycles1)
	consumed1, err := metricSum(agg.base, "cxpulse_events_consumed_total")
	if err != nil {
		return fail(err)
	}
	if res.LatencyScriptSections, err = scriptSections(ctx, rdb, int(consumed1-consumed0)); err != nil {
		return fail(err)
	}
	return ld, nil
}
