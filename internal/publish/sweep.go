package publish

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/pace"
	"github.com/cxpulse/cxpulse/internal/tenants"
)

// Tuning of the sweeper (docs/aggregator.md, docs/scaling.md).
const (
	sweepInterval = time.Second
	sweepLimit    = 2000
	// dueBatch bounds the customers one sweep slice looks at again.
	dueBatch = 5000
	// sweepClaimFor is how long a sweeper may hold the tenants it took
	// before they are due again (it stopped, say); claimBatch bounds how
	// many one round takes.
	sweepClaimFor = time.Minute
	claimBatch    = 500
	// pendingAgain is when a tenant with views left pending is looked at
	// again (see store.RepairViews); failedAgain when one that failed is.
	pendingAgain = 2 * time.Second
	failedAgain  = 5 * time.Second
)

// sweepLoop keeps windows sliding when no event arrives: every second it
// sweeps the tenants whose sweep is due (a bucket leaves a window, a
// customer is due, a local day or hour begins; store.NextSweep). At start
// it makes every tenant due, so that what an instance that stopped left
// behind is swept.
func (p *Publisher) sweepLoop(ctx context.Context) error {
	seeded := false
	pace.Every(ctx, sweepInterval, func() bool {
		var err error
		if !seeded {
			if err = p.markAllDue(ctx); err == nil {
				seeded = true
			}
		}
		if err == nil {
			err = p.sweepDue(ctx)
		}
		if err != nil && ctx.Err() == nil {
			p.log.Warn("sweeping", zap.String("error", problemSummary(err)))
		}
		return true
	})
	return nil
}

// markAllDue makes every tenant's sweep due now.
func (p *Publisher) markAllDue(ctx context.Context) error {
	tenants, err := p.store.Tenants(ctx)
	if err != nil {
		return err
	}
	return p.store.MarkSweepDue(ctx, p.now(), tenants...)
}

// sweepDue sweeps the tenants due by now, claimBatch at a time; a tenant
// that fails is due again soon, and the others are swept.
func (p *Publisher) sweepDue(ctx context.Context) error {
	now := p.now()
	var errs []error
	for ctx.Err() == nil {
		due, err := p.store.ClaimDue(ctx, now, sweepClaimFor, claimBatch)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		p.metrics.sweepRoundTenants.Observe(float64(len(due)))
		if _, err := p.eachOf(ctx, stageSweeping, due, func(ctx context.Context, t string) error { return p.sweepTenant(ctx, t, now) }); err != nil {
			errs = append(errs, err)
		}
		if len(due) < claimBatch {
			break
		}
	}
	return errors.Join(errs...)
}

// SweepOnce sweeps every tenant at the current time. A tenant that fails
// is skipped, loudly, and the others are swept.
func (p *Publisher) SweepOnce(ctx context.Context) error {
	now := p.now()
	return p.eachTenant(ctx, stageSweeping, func(ctx context.Context, t string) error { return p.sweepTenant(ctx, t, now) })
}

// sweepTenant sweeps one tenant at now and records when its next sweep is
// due: soon again when it failed or left views pending.
func (p *Publisher) sweepTenant(ctx context.Context, t string, now time.Time) error {
	tenant, _ := p.parts.Tenants.Get(t)
	pending, err := p.sweep(ctx, t, tenant, now)
	var next time.Time
	switch {
	case err != nil:
		next = now.Add(failedAgain)
	case pending > 0:
		next = now.Add(pendingAgain)
	default:
		if next, err = p.store.NextSweep(ctx, t, tenant.Periods, now, tenant.CommentRetention); err != nil {
			next = now.Add(failedAgain)
		}
	}
	if derr := p.store.SweepDone(ctx, t, next); err == nil {
		err = derr
	}
	return err
}

// sweep does a tenant's sweep; it returns how many views it left pending
// for the next.
func (p *Publisher) sweep(ctx context.Context, t string, tenant tenants.Tenant, now time.Time) (int, error) {
	sys := tenant.Periods
	// Views a crash left behind their counters are rewritten first.
	pending, err := p.store.RepairViews(ctx, t, sys, now)
	if err != nil {
		return 0, err
	}
	// At the tenant's local midnight the to-date periods start again.
	if err := p.store.RollPeriods(ctx, t, sys, now); err != nil {
		return 0, err
	}
	for {
		n, err := p.store.Sweep(ctx, t, sys, now, sweepLimit)
		if err != nil {
			return 0, err
		}
		p.metrics.swept.Add(float64(n))
		if n < sweepLimit {
			break
		}
	}
	if err := p.sweepCustomers(ctx, t, now); err != nil {
		return 0, err
	}
	if err := p.store.SweepPeriods(ctx, t, sys, now); err != nil {
		return 0, err
	}
	if _, err := p.store.SweepSamples(ctx, t, now, tenant.CommentRetention); err != nil {
		return 0, err
	}
	return pending, p.store.SweepThemes(ctx, t, now, tenant.CommentRetention)
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
