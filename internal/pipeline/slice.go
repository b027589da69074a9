package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/cxpulse/cxpulse/internal/customers"
	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/plan"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store"
)

// errUnsettled is returned for a slice whose ids or customers kept
// changing under it.
var errUnsettled = errors.New("slice did not settle")

// customerHorizon returns the customer-state durations of a tenant.
func (p *Pipeline) customerHorizon(tenant string) customers.Horizon {
	t, _ := p.tenants.Get(tenant)
	return customers.TenantHorizon(p.largest, t.ChurnInactivity)
}

// ApplyDue looks again at customers of a tenant whose inactivity loss, or
// history to forget, is due by now, with no new event: the sweeper's part
// of the customer state.
func (p *Pipeline) ApplyDue(ctx context.Context, tenant string, due []string, now time.Time) error {
	_, err := p.applySlice(ctx, tenant, nil, nil, due, now)
	return err
}

// applySlice plans and applies one tenant slice: items over ranges, or
// (with no ranges) the customers due for a look with no new event. It
// returns the partition of a fenced claim, if any.
func (p *Pipeline) applySlice(ctx context.Context, tenant string, items []*item, ranges []store.Range, due []string, now time.Time) (string, error) {
	t, _ := p.tenants.Get(tenant)
	in, err := p.sliceInput(ctx, tenant, items, due, now)
	if err != nil {
		return "", err
	}
	// The items to plan: those of customers not erased, worked out again
	// only when the items or the erasures change.
	var planned []*plan.Item
	refilter := true
	for attempt := 0; attempt < 20; attempt++ {
		if len(ranges) == 0 && len(due) == 0 {
			return "", nil
		}
		if refilter {
			planned, refilter = p.notErased(tenant, items), false
		}
		pl, err := plan.Make(in, planned)
		if err != nil {
			return "", err
		}
		pl.Slice.Tenant, pl.Slice.Ranges, pl.Slice.Now = tenant, ranges, in.Now
		res, err := p.store.Apply(ctx, &pl.Slice)
		if err != nil {
			return "", err
		}
		switch res.Outcome {
		case store.Applied:
			p.customers.Put(tenant, pl.Known)
			p.countApplied(pl, len(items)-len(planned))
			return "", nil
		case store.Fenced:
			return res.Partition, nil
		case store.PeriodMoved:
			// Another instance's clock has reached the next local day:
			// plan again at the tenant's time.
			in.Now = res.Now
		case store.OutboxFull:
			p.metrics.outboxFull.Inc()
			return "", fmt.Errorf("applying a slice of tenant %s: its outbox holds %d dead letters not yet published (is cx.deadletter writable?)", tenant, store.OutboxCap)
		case store.Behind, store.Rewind:
			return "", stateHalt(tenant, &res)
		case store.Skipped:
			// An earlier attempt applied these ranges but its answer was
			// lost: its views may be unwritten.
			if err := p.store.FlushPendingViews(ctx, tenant, t.Periods, in.Now); err != nil {
				return "", err
			}
			items, ranges = unapplied(items, ranges, res.Watermarks)
			refilter = true
		case store.ErasuresMoved:
			// Customers were erased since: leave their events out, and
			// forget what this instance cached of the tenant's customers.
			if in.Erasures, err = p.erased.Load(ctx, tenant); err != nil {
				return "", err
			}
			p.customers.DropTenant(tenant)
			refilter = true
		case store.Conflict:
			maps.Copy(in.Known, res.Conflicts)
			maps.Copy(in.Customers, p.customers.PutStored(tenant, res.CustomerConflicts))
		}
	}
	return "", fmt.Errorf("applying a slice of tenant %s: %w", tenant, errUnsettled)
}

// sliceInput is what a tenant's slice is planned from at now: its
// settings, the customer records its purchases and cancellations (and the
// customers due) change, from the cache or else read up front (the script
// checks their versions either way), and the erasures it filters with.
func (p *Pipeline) sliceInput(ctx context.Context, tenant string, items []*item, due []string, now time.Time) (*plan.Input, error) {
	t, _ := p.tenants.Get(tenant)
	in := &plan.Input{Windows: p.cfg.Windows, Now: now, Known: map[string]*dedupe.Record{}, Horizon: p.customerHorizon(tenant), Due: due,
		Periods: t.Periods, CommentRetention: t.CommentRetention}
	in.InHistory = func(at time.Time) bool { return p.rules.InHistory(tenant, at, in.Now) }
	cached, missing := p.customers.Get(tenant, append(historyCustomers(items), due...))
	in.Customers = cached
	if len(missing) > 0 {
		read, err := p.store.Customers(ctx, tenant, missing)
		if err != nil {
			return nil, err
		}
		fetched := make(map[string]*customers.StoredRecord, len(missing))
		for _, id := range missing {
			fetched[id] = read[id]
		}
		maps.Copy(in.Customers, p.customers.PutStored(tenant, fetched))
	}
	var err error
	if in.Erasures, err = p.erased.Count(ctx, tenant); err != nil {
		return nil, err
	}
	return in, nil
}

// notErased returns the items whose customer was not erased after they
// occurred.
func (p *Pipeline) notErased(tenant string, items []*item) []*plan.Item {
	planned := make([]*plan.Item, 0, len(items))
	for _, it := range items {
		if !p.erased.Erased(tenant, it.Event.CustomerID, it.Event.OccurredAt) {
			planned = append(planned, &it.Item)
		}
	}
	return planned
}

// countApplied counts what an applied slice did.
func (p *Pipeline) countApplied(pl *plan.Plan, erased int) {
	p.metrics.erased.Add(float64(erased))
	p.metrics.applied.Add(float64(pl.Applied))
	p.metrics.revisions.Add(float64(pl.Revisions))
	p.metrics.duplicates.Add(float64(pl.Dups))
	for _, l := range pl.Slice.Letters {
		p.metrics.deadLetters.WithLabelValues(l.Reason).Inc()
	}
}

// stateHalt is the halt a slice refused as Behind (the tenant's state was
// lost or rolled back) or Rewind (the tenant is being rebuilt: the
// partition reads again from its log start first, at its next claim).
func stateHalt(tenant string, res *store.Result) *haltError {
	if res.Outcome == store.Rewind {
		return &haltError{partition: res.Partition, reclaim: true, reason: fmt.Sprintf("tenant %s is being rebuilt "+
			"(rewind %d): this partition reads again from its log start first", tenant, res.Expected)}
	}
	wm := res.Watermark
	if wm == "" {
		wm = "gone"
	}
	return &haltError{partition: res.Partition, reclaim: true, lost: true, reason: fmt.Sprintf("tenant %s's state is behind what the group applied "+
		"(its watermark for this partition is %s, the group applied it up to %d): it was lost or rolled back (Redis restarted "+
		"empty, flushed, restored, or failed over to a replica behind); docs/operations.md says how to rebuild", tenant, wm, res.Expected)}
}

// unapplied keeps the items and the parts of ranges at or above each
// partition's watermark: replayed ranges need not have the old bounds.
func unapplied(items []*item, ranges []store.Range, watermarks map[string]int64) ([]*item, []store.Range) {
	kept := items[:0:0]
	for _, it := range items {
		if wm, ok := watermarks[it.partition]; !ok || it.Msg.Offset >= wm {
			kept = append(kept, it)
		}
	}
	var left []store.Range
	for _, r := range ranges {
		if wm, ok := watermarks[r.Partition]; ok {
			r.Start = max(r.Start, wm)
		}
		if r.Start < r.End {
			left = append(left, r)
		}
	}
	return kept, left
}

// historyCustomers returns the customers whose history items change.
func historyCustomers(items []*item) []string {
	var out []string
	seen := map[string]bool{}
	for _, it := range items {
		if stats.ShapesHistory(it.Event.Type) && !seen[it.Event.CustomerID] {
			seen[it.Event.CustomerID] = true
			out = append(out, it.Event.CustomerID)
		}
	}
	return out
}
