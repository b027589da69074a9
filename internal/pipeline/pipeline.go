// Package pipeline is cxpulse's write path, in the order data flows:
// consume (a Kafka consumer group, each partition claimed in Redis and
// resumed from the offset recorded there), classify (decode, validate and
// sort out dead letters), plan (pre-aggregate each tenant's slice, decide
// duplicates and revisions, derive customer histories), apply (one store
// script per tenant slice) and commit (the partition's resume offset).
// Every input message changes Redis exactly once; reading, publishing and
// sweeping are left to other packages.
package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/cxpulse/cxpulse/internal/claims"
	"github.com/cxpulse/cxpulse/internal/customers"
	"github.com/cxpulse/cxpulse/internal/deadletter"
	"github.com/cxpulse/cxpulse/internal/erasure"
	"github.com/cxpulse/cxpulse/internal/kafkaconn"
	"github.com/cxpulse/cxpulse/internal/scopes"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// Tuning constants of the consumer; documented in docs/aggregator.md.
const (
	// SessionTimeout is how long a killed member holds its partitions.
	SessionTimeout = 10 * time.Second
	// maxBatch bounds one fetched batch.
	maxBatch = 5000
	// batchGather is how long a batch waits for more messages after its
	// first: latency traded for fewer, larger script calls.
	batchGather = time.Millisecond
	// topUpWait is how long a batch, once the one before it is applied,
	// waits for more messages before it is handed over: well below
	// combineWait, so that it still joins the next combined batch.
	topUpWait = 100 * time.Microsecond
	// MaxSliceEvents bounds one script call.
	MaxSliceEvents = 5000
	// combineWait is how long the applier waits for other partitions'
	// batches to join the first one, combineWaitMax how long while fewer
	// have joined than made the combined batch before; maxCombined bounds
	// a combined batch.
	combineWait    = 2 * time.Millisecond
	combineWaitMax = 10 * time.Millisecond
	maxCombined    = 30000
	// tenantParallelism bounds the tenant slices applied at once.
	tenantParallelism = 8
	readerMaxWait     = 250 * time.Millisecond
	// customerCacheSize bounds the customer records cached in memory.
	customerCacheSize = 100_000
)

// Config is what the pipeline needs to know of the aggregator's settings.
type Config struct {
	// GroupID is the Kafka consumer group.
	GroupID string
	// TopicPrefix prefixes the input topics.
	TopicPrefix string
	// Windows are the rolling windows, shortest first.
	Windows []window.Window
	// Dimensions, ScopeCombos and MaxScopesPerDim decide an event's scopes.
	Dimensions      []string
	ScopeCombos     []string
	MaxScopesPerDim int
	// OnStateLoss is what a partition does when Redis holds no state for
	// it although the group applied it: StateLossHalt or StateLossRebuild.
	OnStateLoss string
	// Topics are the topics consumed: the input topics, or with routing by
	// tenant the router's (internal/router); Consumed returns them.
	Topics []string
}

// Consumed returns the topics the pipeline consumes.
func (c *Config) Consumed() []string {
	if len(c.Topics) > 0 {
		return c.Topics
	}
	return InputTopics(c.TopicPrefix)
}

// What to do when Redis lost its state (CXPULSE_ON_STATE_LOSS).
const (
	// StateLossHalt halts the partition, loudly, for an operator.
	StateLossHalt = "halt"
	// StateLossRebuild reads the partition again from its log start, when
	// the log reaches back to the oldest instant anything is kept for.
	StateLossRebuild = "rebuild"
)

// InputTopics returns the input topics under prefix.
func InputTopics(prefix string) []string {
	return []string{prefix + events.TopicSurveys, prefix + events.TopicTickets, prefix + events.TopicPurchases}
}

// Pipeline consumes the input topics and applies every event exactly once.
type Pipeline struct {
	cfg     Config
	log     *zap.Logger
	now     func() time.Time
	kafka   *kafkaconn.Config
	admin   *kafka.Client
	store   *store.Store
	claims  *claims.Claims
	tenants *tenants.Registry
	rules   *deadletter.Rules
	letters *deadletter.Writer
	metrics *metrics
	scoper  *scopes.Scoper
	largest window.Window
	// customers caches customer records (see customers.Cache).
	customers *customers.Cache
	erased    *erasure.Set
	batches   chan *batch
	// knownTenants are the tenants already recorded in keys.Tenants.
	knownTenants sync.Map

	mu     sync.Mutex
	halted map[string]string // partition → reason
}

// Parts are the connections and registries a Pipeline works with.
type Parts struct {
	Kafka *kafkaconn.Config
	// Admin answers offset requests.
	Admin   *kafka.Client
	Store   *store.Store
	Claims  *claims.Claims
	Tenants *tenants.Registry
	Letters *deadletter.Writer
	// Erased knows which customers were erased (their earlier events are
	// dropped).
	Erased *erasure.Set
	// Registry receives the pipeline's metrics.
	Registry prometheus.Registerer
	// Now is the clock that decides windows, lateness and expiry.
	Now func() time.Time
}

// New returns a Pipeline; Run starts it.
func New(cfg Config, parts Parts, logger *zap.Logger) *Pipeline {
	largest := cfg.Windows[len(cfg.Windows)-1]
	return &Pipeline{
		cfg: cfg, log: logger.With(zap.String("component", "pipeline")), now: parts.Now,
		kafka: parts.Kafka, admin: parts.Admin, store: parts.Store, claims: parts.Claims, tenants: parts.Tenants,
		rules:   deadletter.NewRules(parts.Tenants, cfg.TopicPrefix, largest),
		letters: parts.Letters, metrics: newMetrics(parts.Registry),
		scoper:  scopes.New(cfg.Dimensions, cfg.ScopeCombos, cfg.MaxScopesPerDim, parts.Store),
		largest: largest, customers: customers.NewCache(customerCacheSize), erased: parts.Erased,
		batches: make(chan *batch), halted: map[string]string{},
	}
}

// Run consumes and applies until ctx ends.
func (p *Pipeline) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.consume(gctx) })
	g.Go(func() error { return p.applier(gctx) })
	g.Go(func() error { return p.watchErasures(gctx) })
	return g.Wait()
}

// Halted returns the partitions this instance halted, with the reason.
func (p *Pipeline) Halted() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]string, len(p.halted))
	for k, v := range p.halted {
		out[k] = v
	}
	return out
}

// HaltInput records an input partition the router halted on (routing by
// tenant): /v1/status, /readyz and cxpulse_partition_halted show it as
// they show the pipeline's own halts.
func (p *Pipeline) HaltInput(partition, reason string) { p.halt(partition, reason) }

func (p *Pipeline) halt(partition, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.halted[partition] = reason
	p.metrics.halted.WithLabelValues(partition).Set(1)
}

// unhalt clears a partition's halt, and shows it at 0 in
// cxpulse_partition_halted from its claim on.
func (p *Pipeline) unhalt(partition string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.halted, partition)
	p.metrics.halted.WithLabelValues(partition).Set(0)
}

type metrics struct {
	consumed      *prometheus.CounterVec
	applied       prometheus.Counter
	duplicates    prometheus.Counter
	revisions     prometheus.Counter
	deadLetters   *prometheus.CounterVec
	unknownFields prometheus.Counter
	batchSize     prometheus.Histogram
	applySeconds  prometheus.Histogram
	endToEnd      prometheus.Histogram
	redisErrors   prometheus.Counter
	kafkaErrors   prometheus.Counter
	halted        *prometheus.GaugeVec
	outboxFull    prometheus.Counter
	rereads       prometheus.Counter
	rebuilds      prometheus.Counter
	erased        prometheus.Counter
	fenced        prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxpulse_events_consumed_total", Help: "Input messages processed and acknowledged, by topic.",
		}, []string{"topic"}),
		applied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxpulse_events_applied_total", Help: "New events counted into the windows.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxpulse_duplicates_dropped_total", Help: "Repeats of a remembered id with the same or a lower revision.",
		}),
		revisions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxpulse_revisions_applied_total", Help: "Higher revisions that replaced an earlier version.",
		}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxpulse_dead_letters_total", Help: "Messages dead-lettered, by reason code.",
		}, []string{"reason"}),
		unknownFields: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxpulse_unknown_fields_total", Help: "Fields ignored because this version does not know them.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cxpulse_batch_size", Help: "Messages per fetched batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 7),
		}),
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cxpulse_batch_apply_seconds", Help: "Time to apply one fetched batch, dead letters and resume offset included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		halted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cxpulse_partition_halted", Help: "1 for a partition this instance halted rather than skip or lose data (the reason is in /v1/status and /readyz).",
		}, []string{"partition"}),
	}
	m.outboxFull = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cxpulse_outbox_full_total", Help: "Slices that waited because their tenant's outbox of dead letters was full (the publisher cannot write cx.deadletter).",
	})
	m.endToEnd = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "cxpulse_end_to_end_seconds",
		Help:    "From a message's Kafka timestamp to its batch applied (view written, offset recorded), for the oldest message of each batch.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 16),
	})
	m.redisErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cxpulse_redis_errors_total", Help: "Applications of batches that failed on Redis (retried with backoff; a permanent fault halts the partitions).",
	})
	m.kafkaErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cxpulse_kafka_errors_total", Help: "Applications of batches that failed writing their dead letters to Kafka (retried with backoff).",
	})
	m.rereads = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cxpulse_partition_rereads_total", Help: "Partitions read again from Redis's resume offset because Redis was behind what this instance applied (a failover to a replica that had not caught up).",
	})
	m.rebuilds = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cxpulse_partition_rebuilds_total", Help: "Partitions read again from their log start because Redis lost its state (CXPULSE_ON_STATE_LOSS=rebuild).",
	})
	m.erased = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cxpulse_events_erased_total", Help: "Events dropped because their customer was erased after they occurred (never dead-lettered: they would carry the customer's data).",
	})
	m.fenced = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cxpulse_writes_fenced_total", Help: "Batches refused because a newer claim took their partition (its tenants' writes go to the new owner; this instance stops work on it).",
	})
	// Label sets known in advance are there at 0 from the start, so that
	// a rate or a panel over them has data on a healthy system.
	for _, r := range deadletter.Reasons {
		m.deadLetters.WithLabelValues(r)
	}
	reg.MustRegister(m.fenced, m.erased, m.redisErrors, m.kafkaErrors, m.endToEnd, m.rereads, m.rebuilds, m.consumed, m.applied, m.duplicates, m.revisions, m.deadLetters, m.unknownFields,
		m.batchSize, m.applySeconds, m.halted, m.outboxFull)
	return m
}
