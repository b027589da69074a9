package publish

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/pace"
)

// sweepLoop keeps windows sliding when no event arrives: every second it
// drops, for every tenant, the buckets that left their windows.
func (p *Publisher) sweepLoop(ctx context.Context) error {
	pace.Every(ctx, sweepInterval, func() bool {
		if err := p.SweepOnce(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("sweeping", zap.String("error", problemSummary(err)))
		}
		return true
	})
	return nil
}

// SweepOnce sweeps every tenant at the current time. A tenant that fails
// is skipped, loudly, and the others are swept.
func (p *Publisher) SweepOnce(ctx context.Context) error {
	now := p.now()
	return p.eachTenant(ctx, stageSweeping, func(ctx context.Context, t string) error { return p.sweepTenant(ctx, t, now) })
}

func (p *Publisher) sweepTenant(ctx context.Context, t string, now time.Time) error {
	tenant, _ := p.parts.Tenants.Get(t)
	sys := tenant.Periods
	// Views a crash left behind their counters are rewritten first.
	if err := p.store.RepairViews(ctx, t, sys, now); err != nil {
		return err
	}
	// At the tenant's local midnight the to-date periods start again.
	if err := p.store.RollPeriods(ctx, t, sys, now); err != nil {
		return err
	}
	for {
		n, err := p.store.Sweep(ctx, t, sys, now, sweepLimit)
		if err != nil {
			return err
		}
		p.metrics.swept.Add(float64(n))
		if n < sweepLimit {
			break
		}
	}
	if err := p.sweepCustomers(ctx, t, now); err != nil {
		return err
	}
	if err := p.store.SweepPeriods(ctx, t, sys, now); err != nil {
		return err
	}
	if _, err := p.store.SweepSamples(ctx, t, now, tenant.CommentRetention); err != nil {
		return err
	}
	return p.store.SweepThemes(ctx, t, now, tenant.CommentRetention)
}

// sweepCustomers looks again at the customers of a tenant whose inactivity
// loss, or history to forget, is due by now, and drops referral
// conversions too old for any window.
func (p *Publisher) sweepCustomers(ctx context.Context, tenant string, now time.Time) error {
	for {
		due, err := p.store.DueCustomers(ctx, tenant, now, dueBatch)
		if err != nil {
			return err
		}
		if len(due) == 0 {
			break
		}
		if err := p.parts.ApplyDue(ctx, tenant, due, now); err != nil {
			return err
		}
		p.metrics.customersSwept.Add(float64(len(due)))
		if len(due) < dueBatch {
			break
		}
	}
	return p.store.PruneConversions(ctx, tenant, p.largest.Begins(now).UnixMilli())
}
