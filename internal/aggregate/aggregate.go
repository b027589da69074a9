// Package aggregate is the cxpulse aggregator: it consumes the input topics
// as a Kafka consumer group, applies every event exactly once to the
// rolling-window metrics of its tenant in Redis (through package store),
// dead-letters what it cannot count, keeps windows sliding, publishes
// changed scores to cx.scores and serves the read API. Survey, ticket and
// commerce metrics are kept; alerts are left to a later stage.
package aggregate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/auth"
	"github.com/cxpulse/cxpulse/internal/serve"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// Tuning constants of the consumer; documented in docs/aggregator.md.
const (
	// sessionTimeout is how long a killed member holds its partitions.
	sessionTimeout = 10 * time.Second
	// maxBatch bounds one fetched batch.
	maxBatch = 5000
	// batchGather is how long a batch waits for more messages after its
	// first: latency traded for fewer, larger script calls.
	batchGather = time.Millisecond
	// topUpWait is how long a batch, once the one before it is applied,
	// waits for more messages before it is handed over: well below
	// combineWait, so that it still joins the next combined batch.
	topUpWait = 100 * time.Microsecond
	// maxSliceEvents bounds one script call.
	maxSliceEvents = 5000
	// combineWait is how long the applier waits for other partitions'
	// batches to join the first one, combineWaitMax how long while fewer
	// have joined than made the combined batch before; maxCombined bounds
	// a combined batch.
	combineWait    = 2 * time.Millisecond
	combineWaitMax = 10 * time.Millisecond
	maxCombined    = 30000
	// tenantParallelism bounds the tenant slices applied at once.
	tenantParallelism = 8
	sweepInterval     = time.Second
	sweepLimit        = 2000
	readerMaxWait     = 250 * time.Millisecond
	// customerCacheSize bounds the customer records cached in memory.
	customerCacheSize = 100_000
)

// Aggregator consumes events and keeps the metrics.
type Aggregator struct {
	cfg      Config
	log      *zap.Logger
	now      func() time.Time
	rdb      redis.UniversalClient
	store    *store.Store
	scoper   *scoper
	tenants  *tenants.Registry
	auth     *auth.Authenticator
	metrics  *metrics
	kafka    *kafka.Client
	dlWriter *kafka.Writer
	scores   *kafka.Writer
	id       string
	largest  window.Window

	batches chan *batch
	// topicOf is the input topic of each event type (read-only).
	topicOf map[events.Type]string
	// customers caches customer records (see customerCache).
	customers *customerCache
	dispatch  *alerts.Dispatcher
	// alertMu serialises alert evaluations: PublishOnce may be called
	// while the publish loop runs.
	alertMu sync.Mutex
	// hub relays score and alert changes to stream clients; stopping is
	// closed when Run's context ends, to end those streams.
	hub      *hub
	stopping chan struct{}
	// knownTenants are the tenants already recorded in store.TenantsKey.
	knownTenants sync.Map

	mu     sync.Mutex
	halted map[string]string // partition → reason
}

// Option adjusts an Aggregator.
type Option func(*Aggregator)

// WithClock sets the clock that decides windows, lateness and expiry
// (default time.Now).
func WithClock(now func() time.Time) Option { return func(a *Aggregator) { a.now = now } }

// New builds an aggregator from a validated Config.
func New(cfg Config, logger *zap.Logger, opts ...Option) (*Aggregator, error) {
	a := &Aggregator{cfg: cfg, log: logger.With(zap.String("component", "aggregator")), now: time.Now,
		halted: map[string]string{}, batches: make(chan *batch), customers: newCustomerCache(customerCacheSize),
		hub: newHub(), stopping: make(chan struct{}), topicOf: map[events.Type]string{}}
	for _, t := range events.Types {
		a.topicOf[t] = t.Topic(cfg.TopicPrefix)
	}
	for _, o := range opts {
		o(a)
	}
	ropts, err := cfg.redisOptions()
	if err != nil {
		return nil, fmt.Errorf("CXPULSE_REDIS_URL: %w", err)
	}
	var keys *auth.Keys
	if cfg.APIKeysFile != "" {
		if keys, err = auth.Load(cfg.APIKeysFile); err != nil {
			return nil, err
		}
	} else {
		a.log.Warn("authentication is OFF (CXPULSE_INSECURE_NO_AUTH=1): anyone reaching this port can read every tenant's scores")
	}
	if a.tenants, err = tenants.Load(cfg.TenantsFile); err != nil {
		return nil, err
	}
	a.auth = auth.NewAuthenticator(keys)
	a.auth.AllowQueryToken = true
	a.rdb = redis.NewUniversalClient(ropts)
	a.store = store.New(a.rdb, cfg.Windows, cfg.DedupeHorizon)
	a.scoper = newScoper(cfg.Dimensions, cfg.ScopeCombos, cfg.MaxScopesPerDim, a.store)
	a.largest = cfg.Windows[len(cfg.Windows)-1]
	a.metrics = newMetrics(a)
	a.dispatch = newDispatcher(cfg, a.log, a.metrics)
	if _, ok := hourlyWindow(cfg); !ok {
		a.log.Warn("no configured window has hourly buckets (one from 24h to 5d does): detractor-spike alerts are off")
	}
	a.kafka = &kafka.Client{Addr: kafka.TCP(cfg.KafkaBrokers...), Timeout: 5 * time.Second}
	a.dlWriter = events.NewWriter(cfg.KafkaBrokers...)
	a.scores = events.NewWriter(cfg.KafkaBrokers...)
	var b [6]byte
	_, _ = rand.Read(b[:])
	a.id = hex.EncodeToString(b[:])
	return a, nil
}

func (a *Aggregator) topic(suffix string) string { return a.cfg.TopicPrefix + suffix }

func (a *Aggregator) inputTopics() []string {
	return []string{a.topic(events.TopicSurveys), a.topic(events.TopicTickets), a.topic(events.TopicPurchases)}
}

// Run consumes, sweeps, publishes and serves HTTP until ctx ends, then
// stops intake, flushes the writers, and closes Redis.
func (a *Aggregator) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		_ = a.Close()
		return fmt.Errorf("listening on %s (CXPULSE_HTTP_ADDR): %w", a.cfg.HTTPAddr, err)
	}
	a.log.Info("aggregator started", zap.Strings("windows", windowNames(a.cfg)),
		zap.Strings("dimensions", a.cfg.Dimensions), zap.String("group", a.cfg.GroupID), zap.String("instance", a.id))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serve.Run(gctx, ln, a.Handler(), a.cfg.ShutdownTimeout, a.log) })
	g.Go(func() error { return a.consume(gctx) })
	g.Go(func() error { return a.applier(gctx) })
	g.Go(func() error { return a.sweepLoop(gctx) })
	g.Go(func() error { return a.publishLoop(gctx) })
	g.Go(func() error { a.dispatch.Run(gctx); return nil })
	g.Go(func() error { return a.relay(gctx) })
	g.Go(func() error { <-gctx.Done(); close(a.stopping); return nil })
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return errors.Join(err, a.Close())
}

// Close flushes the Kafka writers and closes Redis.
func (a *Aggregator) Close() error {
	return errors.Join(a.dlWriter.Close(), a.scores.Close(), a.rdb.Close())
}

// Run builds an aggregator and runs it until ctx ends.
func Run(ctx context.Context, cfg Config, logger *zap.Logger) error {
	a, err := New(cfg, logger)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

func windowNames(cfg Config) []string {
	out := make([]string, len(cfg.Windows))
	for i, w := range cfg.Windows {
		out[i] = w.Name
	}
	return out
}

// backoff waits before retry n (capped at 5 s); false when ctx ended.
func backoff(ctx context.Context, n int) bool {
	d := time.Duration(1<<min(n, 6)) * 50 * time.Millisecond
	t := time.NewTimer(min(d, 5*time.Second))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (a *Aggregator) halt(partition, reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.halted[partition] = reason
	a.metrics.halted.WithLabelValues(partition).Set(1)
}

func (a *Aggregator) haltedPartitions() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]string, len(a.halted))
	for k, v := range a.halted {
		out[k] = v
	}
	return out
}
