package aggregate

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// sweepLoop keeps windows sliding when no event arrives: every second it
// drops, for every tenant, the buckets that left their windows.
func (a *Aggregator) sweepLoop(ctx context.Context) error {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := a.SweepOnce(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("sweeping", zap.Error(err))
		}
	}
}

// SweepOnce sweeps every tenant at the current time.
func (a *Aggregator) SweepOnce(ctx context.Context) error {
	tenants, err := a.store.Tenants(ctx)
	if err != nil {
		return err
	}
	now := a.now()
	for _, t := range tenants {
		// Views a crash left behind their counters are rewritten first.
		if err := a.store.RepairViews(ctx, t, now); err != nil {
			return err
		}
		for {
			n, err := a.store.Sweep(ctx, t, now, sweepLimit)
			if err != nil {
				return err
			}
			a.metrics.swept.Add(float64(n))
			if n < sweepLimit {
				break
			}
		}
		if err := a.sweepCustomers(ctx, t, now); err != nil {
			return err
		}
		if err := a.store.SweepThemes(ctx, t, now); err != nil {
			return err
		}
	}
	return nil
}

// sweepCustomers looks again at the customers of a tenant whose inactivity
// loss, or history to forget, is due by now, and drops referral
// conversions too old for any window.
func (a *Aggregator) sweepCustomers(ctx context.Context, tenant string, now time.Time) error {
	for {
		due, err := a.store.DueCustomers(ctx, tenant, now, maxSliceEvents)
		if err != nil || len(due) == 0 {
			break
		}
		if _, err := a.applySlice(ctx, tenant, nil, nil, due, now); err != nil {
			return err
		}
		a.metrics.customersSwept.Add(float64(len(due)))
		if len(due) < maxSliceEvents {
			break
		}
	}
	return a.store.PruneConversions(ctx, tenant, store.SpellsBefore(a.largest, now))
}

// leaseScript takes or renews the publisher lease.
var leaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`)

// publishLoop publishes, from one instance at a time (a Redis lease), the
// changed scopes of every tenant to cx.scores at most once per
// CXPULSE_EMIT_INTERVAL, and the queued dead letters.
func (a *Aggregator) publishLoop(ctx context.Context) error {
	t := time.NewTicker(a.cfg.EmitInterval)
	defer t.Stop()
	key := "cxpulse:publisher:" + a.cfg.GroupID
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		ttl := max(3*a.cfg.EmitInterval, 3*time.Second)
		ok, err := leaseScript.Run(ctx, a.rdb, []string{key}, a.id, ttl.Milliseconds()).Int()
		if err != nil || ok == 0 {
			continue
		}
		if err := a.PublishOnce(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("publishing", zap.Error(err))
		}
	}
}

// PublishOnce publishes every tenant's dirty scopes and outbox once, and
// evaluates the alerts of the changed scopes and of live alerts.
func (a *Aggregator) PublishOnce(ctx context.Context) error {
	tenants, err := a.store.Tenants(ctx)
	if err != nil {
		return err
	}
	for _, t := range tenants {
		if err := a.publishOutbox(ctx, t); err != nil {
			return err
		}
		dirty, err := a.store.Dirty(ctx, t)
		if err != nil {
			return err
		}
		if err := a.EvaluateAlerts(ctx, t, slices.Collect(maps.Keys(dirty))); err != nil {
			return err
		}
		if err := a.publishScores(ctx, t, dirty); err != nil {
			return err
		}
	}
	return nil
}

// publishScores publishes the dirty scopes of a tenant (as read by the
// caller) to cx.scores.
func (a *Aggregator) publishScores(ctx context.Context, tenant string, dirty map[string]string) error {
	if len(dirty) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, 0, len(dirty))
	// What was published, by the seq of the view actually read: a scope
	// whose view lags its dirty mark stays dirty for the next round.
	published := make(map[string]string, len(dirty))
	for scope := range dirty {
		view, err := a.store.View(ctx, tenant, scope)
		if err != nil {
			return err
		}
		s := scores.FromHash(tenant, scope, view)
		published[scope] = strconv.FormatInt(s.Seq, 10)
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		msgs = append(msgs, kafka.Message{Topic: a.topic("scores"), Key: []byte(tenant + "/" + scope), Value: b})
	}
	if err := a.scores.WriteMessages(ctx, msgs...); err != nil {
		return err
	}
	a.metrics.published.Add(float64(len(msgs)))
	return a.store.Undirty(ctx, tenant, published)
}

func (a *Aggregator) publishOutbox(ctx context.Context, tenant string) error {
	for {
		letters, err := a.store.Outbox(ctx, tenant, 500)
		if err != nil || len(letters) == 0 {
			return err
		}
		if err := a.writeLetters(ctx, letters); err != nil {
			return err
		}
		if err := a.store.TrimOutbox(ctx, tenant, len(letters)); err != nil {
			return err
		}
		if len(letters) < 500 {
			return nil
		}
	}
}
