package pipeline

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// erasureCheck is how often an instance looks for erasures made
// elsewhere (another instance, the CLI), to forget the erased customers it
// holds in memory even when no event of their tenant arrives.
const erasureCheck = 2 * time.Second

// watchErasures drops the cached customers of every tenant whose erasures
// changed, until ctx ends.
func (p *Pipeline) watchErasures(ctx context.Context) error {
	tick := time.NewTicker(erasureCheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		p.knownTenants.Range(func(k, _ any) bool {
			tenant := k.(string)
			if err := p.checkErasures(ctx, tenant); err != nil && ctx.Err() == nil {
				p.log.Warn("checking erasures; will retry", zap.String("tenant", tenant), zap.Error(err))
			}
			return ctx.Err() == nil
		})
	}
}

// checkErasures reloads a tenant's erasures when their number moved and
// then forgets its cached customers.
func (p *Pipeline) checkErasures(ctx context.Context, tenant string) error {
	known, err := p.erased.Count(ctx, tenant)
	if err != nil {
		return err
	}
	now, err := p.store.ErasureCount(ctx, tenant)
	if err != nil || now == known {
		return err
	}
	if _, err := p.erased.Load(ctx, tenant); err != nil {
		return err
	}
	p.customers.DropTenant(tenant)
	return nil
}
