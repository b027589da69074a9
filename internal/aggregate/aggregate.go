// Package aggregate assembles the cxpulse aggregator from its rooms: the
// write pipeline (package pipeline), the publisher and sweeper (package
// publish) and the read API (package api), over one Redis, one Kafka
// configuration and one metrics registry, and runs them until the context
// ends. What each part does is left to its package (docs/architecture.md).
package aggregate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/cxpulse/cxpulse/internal/api"
	"github.com/cxpulse/cxpulse/internal/auth"
	"github.com/cxpulse/cxpulse/internal/claims"
	"github.com/cxpulse/cxpulse/internal/clock"
	"github.com/cxpulse/cxpulse/internal/deadletter"
	"github.com/cxpulse/cxpulse/internal/erasure"
	"github.com/cxpulse/cxpulse/internal/outbox"
	"github.com/cxpulse/cxpulse/internal/pipeline"
	"github.com/cxpulse/cxpulse/internal/publish"
	"github.com/cxpulse/cxpulse/internal/redisconn"
	"github.com/cxpulse/cxpulse/internal/serve"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/internal/timerule"
)

// Aggregator consumes events, keeps the metrics, publishes and serves
// them.
type Aggregator struct {
	cfg       Config
	log       *zap.Logger
	rdb       redis.UniversalClient
	letters   *kafka.Writer // cx.deadletter
	outputs   *kafka.Writer // cx.scores and cx.alerts
	admin     *kafka.Client
	pipeline  *pipeline.Pipeline
	publisher *publish.Publisher
	api       *api.Server
	authn     *auth.Authenticator
	erasures  *erasure.Log
	id        string
	// clock is the shared Redis time, nil when a test injected the time.
	clock *clock.Redis
	// now is the time windows, lateness and expiry follow.
	now     func() time.Time
	tenants *tenants.Registry
}

// Option adjusts an Aggregator.
type Option func(*options)

type options struct{ now, local func() time.Time }

// WithClock sets the clock that decides windows, lateness and expiry
// (default: the Redis server's time, see package clock).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLocalClock sets this machine's clock under the Redis time (default
// time.Now), for tests of an instance whose clock is off.
func WithLocalClock(local func() time.Time) Option { return func(o *options) { o.local = local } }

// New builds an aggregator from a validated Config.
func New(cfg Config, logger *zap.Logger, opts ...Option) (*Aggregator, error) {
	o := options{local: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	log := logger.With(zap.String("component", "aggregator"))
	rdb, err := cfg.Redis.Client()
	if err != nil {
		return nil, err
	}
	var keys *auth.Keys
	if cfg.APIKeysFile != "" {
		if keys, err = auth.Load(cfg.APIKeysFile); err != nil {
			return nil, err
		}
	} else {
		log.Warn("authentication is OFF (CXPULSE_INSECURE_NO_AUTH=1): anyone reaching this port can read every tenant's scores")
	}
	if cfg.AlertWebhookURL != "" && cfg.AlertWebhookSecret == "" {
		log.Warn("webhook messages go unsigned: set CXPULSE_ALERT_WEBHOOK_SECRET so the receiver can tell them from forgeries")
	}
	reg, err := tenants.Load(cfg.TenantsFile)
	if err != nil {
		return nil, err
	}
	authn := auth.NewAuthenticator(keys)

	var b [6]byte
	_, _ = rand.Read(b[:])
	a := &Aggregator{cfg: cfg, log: log, id: hex.EncodeToString(b[:]),
		rdb: rdb, authn: authn, letters: cfg.Kafka.Writer(), outputs: cfg.Kafka.Writer(),
		admin: cfg.Kafka.Client(5 * time.Second)}
	st := store.New(a.rdb, cfg.Windows, cfg.DedupeHorizon)
	if cfg.DebugScriptProfile {
		st.ProfileScripts()
	}
	cl := claims.New(a.rdb)
	ob := outbox.New(a.rdb)
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	authn.Register(metrics)
	serve.RegisterBuildInfo(metrics)
	if o.now == nil {
		// Every instance follows the Redis server's time: one clock for
		// windows, lateness and sweeps, whatever this machine's says.
		a.clock = clock.NewRedis(a.rdb, o.local, logger, metrics)
		o.now = a.clock.Now
	}
	a.now, a.tenants = o.now, reg
	letters := deadletter.NewWriter(a.letters, cfg.TopicPrefix)
	erased := erasure.NewSet(st, a.rdb, cfg.ErasureKey)
	a.erasures = &erasure.Log{Kafka: &cfg.Kafka, Topic: cfg.TopicPrefix + erasure.TopicSuffix, Writer: a.outputs}
	eraser := &erasure.Eraser{Store: st, Set: erased, Tenants: reg, InHistory: timerule.New(reg, cfg.Windows[len(cfg.Windows)-1]).InHistory,
		Log: a.erasures, Alerts: ob.AlertStates, Queued: ob.SinkQueues, Now: o.now}

	a.pipeline = pipeline.New(pipeline.Config{GroupID: cfg.GroupID, TopicPrefix: cfg.TopicPrefix, Windows: cfg.Windows,
		Dimensions: cfg.Dimensions, ScopeCombos: cfg.ScopeCombos, MaxScopesPerDim: cfg.MaxScopesPerDim, OnStateLoss: cfg.OnStateLoss,
		Topics: cfg.consumed()},
		pipeline.Parts{Kafka: &cfg.Kafka, Admin: a.admin, Store: st, Claims: cl, Tenants: reg, Letters: letters,
			Erased: erased, Registry: metrics, Now: o.now}, logger)
	a.publisher = publish.New(publish.Config{GroupID: cfg.GroupID, TopicPrefix: cfg.TopicPrefix, Windows: cfg.Windows,
		EmitInterval: cfg.EmitInterval, ExternalURL: cfg.ExternalURL, AlertResend: cfg.AlertResend,
		AlertmanagerURL: cfg.AlertmanagerURL, AlertWebhookURL: cfg.AlertWebhookURL, AlertWebhookSecret: cfg.AlertWebhookSecret,
		PagerDutyRoutingKey: cfg.PagerDutyRoutingKey, PagerDutyURL: cfg.PagerDutyURL, Digest: cfg.Digest, DigestSlackURL: cfg.DigestSlackURL},
		publish.Parts{Store: st, Outbox: ob, Tenants: reg, Writer: a.outputs, Letters: letters,
			ApplyDue: a.pipeline.ApplyDue, Registry: metrics, Now: o.now, Instance: a.id}, logger)
	a.api = api.New(api.Config{GroupID: cfg.GroupID, TopicPrefix: cfg.TopicPrefix, Windows: cfg.Windows, DebugPprof: cfg.DebugPprof,
		ProtectOps: cfg.ProtectOpsEndpoints, ScoreMetrics: cfg.ScoreMetrics, Topics: cfg.consumed(), RouterGroup: cfg.routerGroup()},
		api.Parts{Kafka: &cfg.Kafka, Admin: a.admin, Redis: a.rdb, Store: st.Reader, Outbox: ob, Claims: cl, Auth: authn, Tenants: reg,
			Halted: a.pipeline.Halted, Erase: eraser.Erase, Registry: metrics, Now: o.now}, logger)
	return a, nil
}

// Handler returns the aggregator's HTTP routes (the read API, probes,
// /metrics and the dashboard).
func (a *Aggregator) Handler() http.Handler {
	return serve.Harden(a.api.Handler(), serve.Hardening{BodyBytes: maxBodyBytes, Origins: a.cfg.CORSOrigins, Methods: []string{http.MethodGet}})
}

// maxBodyBytes bounds request bodies: no endpoint of the aggregator reads
// one.
const maxBodyBytes = 64 << 10

// SweepOnce sweeps every tenant at the current time.
func (a *Aggregator) SweepOnce(ctx context.Context) error { return a.publisher.SweepOnce(ctx) }

// DigestOnce sends the digests that are due.
func (a *Aggregator) DigestOnce(ctx context.Context) error { return a.publisher.DigestOnce(ctx) }

// PublishOnce publishes every tenant's changes and evaluates alerts once.
func (a *Aggregator) PublishOnce(ctx context.Context) error { return a.publisher.PublishOnce(ctx) }

// Run consumes, sweeps, publishes and serves HTTP until ctx ends, then
// stops intake, flushes the writers, and closes Redis.
func (a *Aggregator) Run(ctx context.Context) error {
	for _, w := range a.cfg.Kafka.Warnings() {
		a.log.Error(w)
	}
	// A refused login or an untrusted certificate is named and ends the
	// process: retrying would only hide it.
	if err := a.cfg.Kafka.Check(ctx); err != nil {
		_ = a.Close()
		return err
	}
	if err := redisconn.Check(ctx, a.rdb); err != nil {
		_ = a.Close()
		return err
	}
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		_ = a.Close()
		return fmt.Errorf("listening on %s (CXPULSE_HTTP_ADDR): %w", a.cfg.HTTPAddr, err)
	}
	names := make([]string, len(a.cfg.Windows))
	for i, w := range a.cfg.Windows {
		names[i] = w.Name
	}
	a.log.Info("aggregator started", zap.Strings("windows", names),
		zap.Strings("dimensions", a.cfg.Dimensions), zap.String("group", a.cfg.GroupID), zap.String("instance", a.id))
	if a.cfg.ErasureKey == "" {
		a.log.Info("erasures are named by a hash whose key is kept in Redis; set CXPULSE_ERASURE_KEY so that they stay recognisable if Redis loses it (docs/privacy.md)")
	}
	// Erasures Redis lacks (it lost its state, or was restored from an
	// older backup) come back from cx.erasures before anything is applied.
	if err := a.erasures.Ensure(ctx); err != nil {
		_ = a.Close()
		return err
	}
	restored, err := a.erasures.Restore(ctx, a.rdb)
	if err != nil {
		_ = a.Close()
		return err
	}
	if restored > 0 {
		a.log.Warn("erasures restored from the erasures topic: Redis lacked them", zap.Int("erasures", restored),
			zap.String("topic", a.erasures.Topic))
	}
	if err := a.checkWindows(ctx); err != nil {
		_ = a.Close()
		return err
	}
	if err := a.ensureRouted(ctx); err != nil {
		_ = a.Close()
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	if a.clock != nil {
		if err := a.clock.Sync(ctx); err != nil {
			a.log.Warn("reading the Redis time; using this machine's until Redis answers", zap.Error(err))
		}
		g.Go(func() error { a.clock.Run(gctx); return nil })
	}
	if a.cfg.APIKeysFile != "" {
		g.Go(func() error { a.authn.Watch(gctx, a.cfg.APIKeysFile, auth.CheckInterval, a.log); return nil })
	}
	g.Go(func() error { return serve.Run(gctx, ln, a.Handler(), a.cfg.ShutdownTimeout, a.log) })
	g.Go(func() error { return a.pipeline.Run(gctx) })
	if a.cfg.RouteByTenant {
		g.Go(func() error { return a.runRouter(gctx) })
	}
	g.Go(func() error { return a.publisher.Run(gctx) })
	g.Go(func() error { return a.api.Run(gctx) })
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return errors.Join(err, a.Close())
}

// Close flushes the Kafka writers and closes Redis.
func (a *Aggregator) Close() error {
	var errs []error
	for _, c := range []interface{ Close() error }{a.letters, a.outputs, a.rdb} {
		errs = append(errs, c.Close())
	}
	if tr, ok := a.admin.Transport.(*kafka.Transport); ok {
		tr.CloseIdleConnections()
	}
	return errors.Join(errs...)
}

// Run builds an aggregator and runs it until ctx ends.
func Run(ctx context.Context, cfg Config, logger *zap.Logger) error {
	a, err := New(cfg, logger)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}
