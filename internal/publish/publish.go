// Package publish is cxpulse's output side: from one aggregator instance
// at a time (a Redis lease) it publishes every tenant's changed scores to
// cx.scores, the dead letters queued in the outboxes, and the detractor
// spike alerts it evaluates, to cx.alerts and the configured sinks; on
// every instance it sweeps, so that windows slide when no event arrives.
// Applying events is left to the pipeline; serving reads to package api.
package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/deadletter"
	"github.com/cxpulse/cxpulse/internal/outbox"
	"github.com/cxpulse/cxpulse/internal/pace"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/pkg/scores"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// Config is what the publisher needs to know of the aggregator's settings.
type Config struct {
	GroupID     string
	TopicPrefix string
	// Windows are the rolling windows, shortest first.
	Windows []window.Window
	// EmitInterval is the least time between two snapshots of a scope.
	EmitInterval time.Duration
	// ExternalURL is where users reach the aggregator; alerts link to it.
	ExternalURL string
	// AlertResend is how often a firing alert is sent again.
	AlertResend time.Duration
	// Sinks besides cx.alerts.
	AlertmanagerURL, AlertWebhookURL  string
	AlertWebhookSecret                string
	PagerDutyRoutingKey, PagerDutyURL string
	// Digest is the tenants' digest cadence unless their own says
	// otherwise; DigestSlackURL gets them as Slack messages.
	Digest, DigestSlackURL string
}

// Parts are the connections, registries and hooks the publisher works
// with.
type Parts struct {
	Store   *store.Store
	Outbox  *outbox.Outbox
	Tenants *tenants.Registry
	// Writer writes cx.scores and cx.alerts.
	Writer  *kafka.Writer
	Letters *deadletter.Writer
	// ApplyDue looks again at customers due with no new event (the
	// pipeline's part of a sweep).
	ApplyDue func(ctx context.Context, tenant string, due []string, now time.Time) error
	// Registry receives the publisher's metrics.
	Registry prometheus.Registerer
	// Now is the clock that decides windows and alerts.
	Now func() time.Time
	// Instance names this aggregator instance in the lease.
	Instance string
}

// Publisher publishes scores, dead letters and alerts, and sweeps.
type Publisher struct {
	cfg      Config
	log      *zap.Logger
	parts    Parts
	store    *store.Store
	outbox   *outbox.Outbox
	now      func() time.Time
	metrics  *metrics
	largest  window.Window
	alertsTo *kafkaSink
	// sinks are the HTTP sinks, fed from durable queues; retry is how a
	// batch is retried at each.
	sinks []alerts.Sink
	retry alerts.Retry
	// epoch is this instance's publisher lease epoch while it holds the
	// lease, 0 otherwise.
	epoch atomic.Int64
	// alertLocks serialise the alert evaluations of a tenant (striped by
	// its name): PublishOnce may be called while the publish loop runs,
	// and a round evaluates several tenants at once.
	alertLocks [64]sync.Mutex
	// digests remembers, per tenant and cadence, the period whose digest
	// this instance knows sent; digestMu guards it.
	digests  map[string]string
	digestMu sync.Mutex
	// round is the publish loop's own state: the lease epoch and time of
	// its last walk of every tenant, and the tenants its last round failed.
	round struct {
		epoch  int64
		walked time.Time
		retry  []string
	}
	// live holds the tenants with live alerts; liveMu guards it.
	live   map[string]bool
	liveMu sync.Mutex
}

// New returns a Publisher; Run starts it.
func New(cfg Config, parts Parts, logger *zap.Logger) *Publisher {
	log := logger.With(zap.String("component", "publisher"))
	m := newMetrics(parts.Registry)
	p := &Publisher{cfg: cfg, log: log, parts: parts, store: parts.Store, outbox: parts.Outbox, now: parts.Now, metrics: m,
		largest:  cfg.Windows[len(cfg.Windows)-1],
		alertsTo: &kafkaSink{w: parts.Writer, topic: cfg.TopicPrefix + "alerts"},
		sinks:    newSinks(cfg), retry: alerts.DefaultRetry, digests: map[string]string{}, live: map[string]bool{}}
	if _, ok := hourlyWindow(cfg.Windows); !ok {
		log.Warn("no configured window has hourly buckets (one from 24h to 5d does): detractor-spike alerts are off")
	}
	return p
}

// Run sweeps, publishes and delivers alerts until ctx ends.
func (p *Publisher) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.sweepLoop(gctx) })
	g.Go(func() error { return p.publishLoop(gctx) })
	g.Go(func() error { p.digestLoop(gctx); return nil })
	for _, s := range p.sinks {
		g.Go(func() error { p.deliverLoop(gctx, s); return nil })
	}
	return g.Wait()
}

// publishLoop publishes, from one instance at a time (the publisher
// lease), the changed scopes of every tenant to cx.scores at most once per
// CXPULSE_EMIT_INTERVAL, the queued dead letters and the alerts. A round
// visits the tenants whose views changed since the last one, those with
// live alerts and those that failed; every fullWalkEvery, and when this
// instance has just taken the lease, it visits every tenant.
func (p *Publisher) publishLoop(ctx context.Context) error {
	pace.Every(ctx, p.cfg.EmitInterval, func() bool {
		if err := p.publishRound(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, errNotPublisher) {
			p.log.Warn("publishing", zap.String("error", problemSummary(err)))
		}
		return true
	})
	return nil
}

// fullWalkEvery bounds how long a change the changed-tenants set missed
// (a crash between a view write and its mark) waits to be published.
const fullWalkEvery = 30 * time.Second

// maxChangedPerRound bounds the tenants one round takes from the set.
const maxChangedPerRound = 10000

// publishRound is one round of publishLoop.
func (p *Publisher) publishRound(ctx context.Context) error {
	if err := p.takeLease(ctx); err != nil {
		return err
	}
	ep := p.epoch.Load()
	if ep != p.round.epoch || time.Since(p.round.walked) >= fullWalkEvery {
		// What was marked before this walk is covered by it.
		if _, err := p.outbox.TakeChanged(ctx, maxChangedPerRound); err != nil {
			return err
		}
		p.round.epoch, p.round.walked = ep, time.Now()
		tenants, err := p.store.Tenants(ctx)
		if err != nil {
			return err
		}
		failed, err := p.eachOf(ctx, stagePublishing, tenants, p.publishTenant)
		p.round.retry = failed
		return err
	}
	changed, err := p.outbox.TakeChanged(ctx, maxChangedPerRound)
	if err != nil {
		return err
	}
	visit := map[string]bool{}
	for _, list := range [][]string{changed, p.round.retry, p.liveTenants()} {
		for _, t := range list {
			visit[t] = true
		}
	}
	failed, err := p.eachOf(ctx, stagePublishing, slices.Sorted(maps.Keys(visit)), p.publishTenant)
	p.round.retry = failed
	p.metrics.roundTenants.Observe(float64(len(visit)))
	return err
}

// liveTenants lists the tenants whose alerts were live after their last
// evaluation: they are evaluated every round, changed or not.
func (p *Publisher) liveTenants() []string {
	p.liveMu.Lock()
	defer p.liveMu.Unlock()
	return slices.Collect(maps.Keys(p.live))
}

// noteLive records whether a tenant's alerts are live after an evaluation.
func (p *Publisher) noteLive(tenant string, live bool) {
	p.liveMu.Lock()
	defer p.liveMu.Unlock()
	if live {
		p.live[tenant] = true
	} else {
		delete(p.live, tenant)
	}
}

// errNotPublisher means another instance holds the publisher lease.
var errNotPublisher = errors.New("another instance holds the publisher lease")

// takeLease takes or renews the publisher lease; its epoch fences the
// alert states this instance writes.
func (p *Publisher) takeLease(ctx context.Context) error {
	ttl := max(3*p.cfg.EmitInterval, 3*time.Second)
	ep, err := p.outbox.TakeLease(ctx, p.cfg.GroupID, p.parts.Instance, ttl)
	if err != nil {
		p.epoch.Store(0)
		return err
	}
	p.epoch.Store(ep)
	if ep == 0 {
		return errNotPublisher
	}
	return nil
}

// PublishOnce publishes every tenant's dirty scopes and outbox once, and
// evaluates the alerts of the changed scopes and of live alerts. A tenant
// that fails is skipped, loudly, and the others are published.
func (p *Publisher) PublishOnce(ctx context.Context) error {
	if err := p.takeLease(ctx); err != nil {
		return err
	}
	return p.eachTenant(ctx, stagePublishing, p.publishTenant)
}

func (p *Publisher) publishTenant(ctx context.Context, t string) error {
	if err := p.parts.Letters.PublishOutbox(ctx, p.outbox, t); err != nil {
		return err
	}
	dirty, err := p.store.Dirty(ctx, t)
	if err != nil {
		return err
	}
	if err := p.EvaluateAlerts(ctx, t, slices.Collect(maps.Keys(dirty))); err != nil {
		return err
	}
	return p.publishScores(ctx, t, dirty)
}

// publishScores publishes the dirty scopes of a tenant (as read by the
// caller) to cx.scores.
func (p *Publisher) publishScores(ctx context.Context, tenant string, dirty map[string]string) error {
	if len(dirty) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, 0, len(dirty))
	// A scope is clean once the view published and the alerts evaluated
	// (from counters read after its dirty mark) both stand at the mark the
	// caller read: one whose view lags that mark, or moved past it while
	// the alerts were evaluated, stays dirty for the next round.
	published := make(map[string]string, len(dirty))
	for scope, mark := range dirty {
		view, err := p.store.View(ctx, tenant, scope)
		if err != nil {
			return err
		}
		s := scores.FromHash(tenant, scope, view)
		if seq := strconv.FormatInt(s.Seq, 10); seq == mark {
			published[scope] = seq
		}
		b, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("encoding the scores of %s %s: %w", tenant, scope, err)
		}
		msgs = append(msgs, kafka.Message{Topic: p.cfg.TopicPrefix + "scores", Key: []byte(tenant + "/" + scope), Value: b})
	}
	if err := p.parts.Writer.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("writing %d score snapshots of %s: %w", len(msgs), tenant, err)
	}
	p.metrics.published.Add(float64(len(msgs)))
	return p.store.Undirty(ctx, tenant, published)
}

// Stages of the per-tenant work; a failure at one is recorded for the
// tenant (docs/operations.md, /v1/status) and never stops the others.
const (
	stagePublishing = "publishing"
	stageSweeping   = "sweeping"
)

// eachTenant does one stage's work for every tenant, each on its own: a
// tenant that fails is logged, counted and recorded with its problem, and
// the others go on; a tenant that recovers has its problem cleared. It
// returns the failures joined.
func (p *Publisher) eachTenant(ctx context.Context, stage string, work func(ctx context.Context, tenant string) error) error {
	tenants, err := p.store.Tenants(ctx)
	if err != nil {
		return err
	}
	_, err = p.eachOf(ctx, stage, tenants, work)
	return err
}

// parallelism is how many tenants a stage works on at once: publishing
// overlaps one tenant's Redis and Kafka round trips with another's (their
// keys are apart); sweeping and digests go one tenant at a time, leaving
// Redis to the pipeline.
func parallelism(stage string) int {
	if stage == stagePublishing {
		return 8
	}
	return 1
}

// eachOf is eachTenant over the given tenants, parallelism(stage) at a
// time; it returns those that failed too.
func (p *Publisher) eachOf(ctx context.Context, stage string, tenants []string, work func(ctx context.Context, tenant string) error) ([]string, error) {
	known, err := p.outbox.TenantProblems(ctx)
	if err != nil {
		return nil, err
	}
	var (
		mu     sync.Mutex
		failed []error
		names  []string
		fatal  []error
		wg     sync.WaitGroup
	)
	sem := make(chan struct{}, parallelism(stage))
	for _, t := range tenants {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ferr, err := p.settle(ctx, stage, t, known, work(ctx, t))
			mu.Lock()
			defer mu.Unlock()
			if ferr != nil {
				failed, names = append(failed, ferr), append(names, t)
			}
			if err != nil {
				fatal = append(fatal, err)
			}
		})
	}
	wg.Wait()
	slices.Sort(names)
	switch {
	case ctx.Err() != nil:
		return names, ctx.Err()
	case len(fatal) > 0:
		return names, errors.Join(append(failed, fatal...)...)
	case len(failed) > 0:
		return names, fmt.Errorf("%s: %d of %d tenants failed: %w", stage, len(failed), len(tenants), errors.Join(failed...))
	}
	return names, nil
}

// settle records how a tenant's work at a stage ended: a recovery clears
// its problem; a failure is logged, counted and recorded (once per
// problem) and returned. err is a failure to record either.
func (p *Publisher) settle(ctx context.Context, stage, t string, known map[string]outbox.TenantProblem, werr error) (failed, err error) {
	if werr == nil {
		if _, had := known[outbox.ProblemField(t, stage)]; had {
			if err := p.outbox.ClearTenantProblem(ctx, t, stage); err != nil {
				return nil, err
			}
			p.log.Info("tenant recovered", zap.String("tenant", t), zap.String("stage", stage))
		}
		return nil, nil
	}
	if ctx.Err() != nil {
		return nil, nil
	}
	p.metrics.tenantFailures.WithLabelValues(stage).Inc()
	failed = fmt.Errorf("tenant %s: %w", t, werr)
	prob := outbox.TenantProblem{Stage: stage, Problem: werr.Error(), Since: p.now().UnixMilli()}
	if old, had := known[outbox.ProblemField(t, stage)]; had && old.Problem == prob.Problem {
		return failed, nil // recorded already, since then
	}
	p.log.Error("tenant skipped", zap.String("tenant", t), zap.String("stage", stage), zap.Error(werr))
	return failed, p.outbox.SetTenantProblem(ctx, t, prob)
}

// problemSummary shortens an error for a log line.
func problemSummary(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i > 0 {
		return s[:i] + " …"
	}
	return s
}
