package publish

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/store"
)

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
	known, err := p.store.TenantProblems(ctx)
	if err != nil {
		return err
	}
	var failed []error
	for _, t := range tenants {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		werr := work(ctx, t)
		if werr == nil {
			if _, had := known[store.ProblemField(t, stage)]; had {
				if err := p.store.ClearTenantProblem(ctx, t, stage); err != nil {
					return err
				}
				p.log.Info("tenant recovered", zap.String("tenant", t), zap.String("stage", stage))
			}
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.metrics.tenantFailures.WithLabelValues(stage).Inc()
		failed = append(failed, fmt.Errorf("tenant %s: %w", t, werr))
		prob := store.TenantProblem{Stage: stage, Problem: werr.Error(), Since: p.now().UnixMilli()}
		if old, had := known[store.ProblemField(t, stage)]; had && old.Problem == prob.Problem {
			continue // recorded already, since then
		}
		p.log.Error("tenant skipped", zap.String("tenant", t), zap.String("stage", stage), zap.Error(werr))
		if err := p.store.SetTenantProblem(ctx, t, prob); err != nil {
			return errors.Join(append(failed, err)...)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s: %d of %d tenants failed: %w", stage, len(failed), len(tenants), errors.Join(failed...))
	}
	return nil
}

// problemSummary shortens an error for a log line.
func problemSummary(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i > 0 {
		return s[:i] + " …"
	}
	return s
}
