package pipeline

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/cxpulse/cxpulse/internal/claims"
	"github.com/cxpulse/cxpulse/internal/deadletter"
	"github.com/cxpulse/cxpulse/internal/pace"
	"github.com/cxpulse/cxpulse/internal/store"
)

// applier applies the batches of every partition this instance holds,
// combining those that arrive together so that each tenant gets one script
// call for all of them: the per-call cost is shared by more events.
//
// The partitions of one combined batch hand over their next batches as soon
// as it is applied: the next combined batch waits combineWait for others,
// and up to combineWaitMax for as many as the one before held, so that none
// of them misses it and waits a whole application for the one after.
func (p *Pipeline) applier(ctx context.Context) error {
	expect := 0
	for {
		var reqs []*batch
		select {
		case <-ctx.Done():
			return nil
		case r := <-p.batches:
			reqs = append(reqs, r)
		}
		n := len(reqs[0].msgs)
		short, long := time.NewTimer(combineWait), time.NewTimer(combineWaitMax)
		waited := false
	gather:
		for n < maxCombined && !(waited && len(reqs) >= expect) {
			select {
			case r := <-p.batches:
				reqs = append(reqs, r)
				n += len(r.msgs)
			case <-short.C:
				waited = true
			case <-long.C:
				break gather
			}
		}
		short.Stop()
		long.Stop()
		expect = len(reqs)
		p.applyBatches(ctx, reqs)
	}
}

// applyBatches applies reqs, retrying with backoff until each is applied,
// fenced, or its generation has ended; it then answers each request.
func (p *Pipeline) applyBatches(ctx context.Context, reqs []*batch) {
	for n := 0; len(reqs) > 0; n++ {
		fenced, err := p.processBatches(ctx, reqs)
		if fenced != "" {
			p.metrics.fenced.Inc()
			kept := reqs[:0]
			for _, r := range reqs {
				if r.partition == fenced {
					r.done <- errFenced
				} else {
					kept = append(kept, r)
				}
			}
			reqs = kept
			continue
		}
		if err == nil {
			for _, r := range reqs {
				r.done <- nil
			}
			return
		}
		var h *haltError
		if errors.As(err, &h) && h.partition != "" {
			// One partition's state is not as the group left it: it halts,
			// loudly (or, rebuilding, has the group rewind); the others go on.
			kept := reqs[:0]
			for _, r := range reqs {
				if r.partition == h.partition {
					if h.lost && p.cfg.OnStateLoss == StateLossRebuild {
						p.askRewind(ctx, r)
					}
					r.done <- h
				} else {
					kept = append(kept, r)
				}
			}
			reqs = kept
			continue
		}
		if permanent(err) {
			// Retrying cannot mend it: the partitions halt, loudly.
			for _, r := range reqs {
				r.done <- &haltError{reason: err.Error()}
			}
			return
		}
		p.log.Warn("applying batches; will retry", zap.Int("batches", len(reqs)), zap.Error(err))
		pace.Wait(ctx, n) // an ended ctx answers every request below
		kept := reqs[:0]
		for _, r := range reqs {
			switch {
			case ctx.Err() != nil:
				r.done <- ctx.Err()
			case r.ctx.Err() != nil:
				r.done <- r.ctx.Err()
			default:
				kept = append(kept, r)
			}
		}
		reqs = kept
	}
}

// permanent reports whether applying failed in a way retrying cannot
// mend.
func permanent(err error) bool {
	var perm *deadletter.PermanentError
	return errors.As(err, &perm)
}

// processBatches applies fetched batches of several partitions: dead
// letters that need no state are written first, then each tenant's slice,
// then each partition's resume offset. It returns the partition of a
// fenced claim, if any.
func (p *Pipeline) processBatches(ctx context.Context, reqs []*batch) (fenced string, err error) {
	began := time.Now()
	now := p.now()
	byTenant := map[string][]*item{}
	var order []string
	var direct []store.Letter
	ranges := map[string]*batch{}
	for _, r := range reqs {
		ranges[r.partition] = r
		direct = append(direct, r.direct...)
		for _, it := range r.items {
			p.checkTime(it, now)
			t := it.Event.Tenant
			if _, ok := byTenant[t]; !ok {
				order = append(order, t)
			}
			byTenant[t] = append(byTenant[t], it)
		}
	}
	if err := p.letters.Write(ctx, direct); err != nil {
		p.metrics.kafkaErrors.Inc()
		return "", err
	}
	// Tenants are independent (their keys share no slot), so their slices
	// run concurrently: one tenant's planning overlaps another's script.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(tenantParallelism)
	var fenceMu sync.Mutex
	for _, t := range order {
		g.Go(func() error {
			f, err := p.applyTenant(gctx, t, byTenant[t], ranges, now)
			if f != "" {
				fenceMu.Lock()
				fenced = f
				fenceMu.Unlock()
				return errFenced
			}
			return err
		})
	}
	if err := g.Wait(); err != nil || fenced != "" {
		if fenced != "" {
			return fenced, nil
		}
		var h *haltError
		if !errors.As(err, &h) && ctx.Err() == nil {
			p.metrics.redisErrors.Inc()
		}
		return "", err
	}
	commits := make([]claims.Offset, len(reqs))
	for i, r := range reqs {
		commits[i] = claims.Offset{Partition: r.partition, Epoch: r.epoch, End: r.end(), Tenants: r.tenants()}
	}
	out, err := p.claims.CommitMany(ctx, p.cfg.GroupID, commits)
	switch {
	case err != nil:
		p.metrics.redisErrors.Inc()
		return "", err
	case out.Fenced != "":
		return out.Fenced, nil
	case out.Lost != "":
		return "", &haltError{partition: out.Lost, reason: "the claim of this partition is gone from Redis while it was being applied: " +
			"Redis lost its state (restarted empty, flushed, or failed over to a replica behind); docs/operations.md says how to rebuild"}
	}
	for _, l := range direct {
		p.metrics.deadLetters.WithLabelValues(l.Reason).Inc()
	}
	for _, r := range reqs {
		p.metrics.consumed.WithLabelValues(r.msgs[0].Topic).Add(float64(len(r.msgs)))
		p.metrics.batchSize.Observe(float64(len(r.msgs)))
		if at := r.msgs[0].Time; !at.IsZero() {
			p.metrics.endToEnd.Observe(max(0, time.Since(at).Seconds()))
		}
	}
	p.metrics.applySeconds.Observe(time.Since(began).Seconds())
	return "", nil
}

// applyTenant applies one tenant's items of the combined batches, in
// slices of at most MaxSliceEvents events whose ranges stay contiguous per
// partition.
func (p *Pipeline) applyTenant(ctx context.Context, tenant string, items []*item, batches map[string]*batch, now time.Time) (string, error) {
	dims := make([]map[string]string, len(items))
	for i, it := range items {
		dims[i] = it.Event.Dims
	}
	names, err := p.scoper.Resolve(ctx, tenant, dims)
	if err != nil {
		return "", err
	}
	for _, it := range items {
		it.Scopes = names.Scopes(it.Event.Dims)
	}
	if _, known := p.knownTenants.Load(tenant); !known {
		if err := p.store.AddTenant(ctx, tenant); err != nil {
			return "", err
		}
		p.knownTenants.Store(tenant, true)
	}
	for _, sl := range cut(tenant, items, batches, MaxSliceEvents) {
		if fenced, err := p.applySlice(ctx, tenant, sl.items, sl.ranges, nil, now); fenced != "" || err != nil {
			return fenced, err
		}
	}
	return "", nil
}

// tenants returns the tenants of a batch's items.
func (b *batch) tenants() []string {
	seen := map[string]bool{}
	var out []string
	for _, it := range b.items {
		if t := it.Event.Tenant; !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// piece is one script call's share of a tenant's items.
type piece struct {
	items  []*item
	ranges []store.Range
}

// cut splits a tenant's items (grouped by partition, in offset order) into
// pieces of at most max items. Each piece covers, per partition, a
// contiguous offset range; together the pieces cover each batch's range
// exactly once, so watermarks advance in order. Each range expects the
// tenant's watermark where the group last left it.
func cut(tenant string, items []*item, batches map[string]*batch, max int) []piece {
	byPart := map[string][]*item{}
	var parts []string
	for _, it := range items {
		if _, ok := byPart[it.partition]; !ok {
			parts = append(parts, it.partition)
		}
		byPart[it.partition] = append(byPart[it.partition], it)
	}
	var out []piece
	cur := piece{}
	for _, part := range parts {
		list, b := byPart[part], batches[part]
		start := b.start()
		for len(list) > 0 {
			room := max - len(cur.items)
			if room == 0 {
				out = append(out, cur)
				cur = piece{}
				room = max
			}
			take := min(room, len(list))
			end := b.end()
			if take < len(list) {
				end = list[take].Msg.Offset
			}
			cur.items = append(cur.items, list[:take]...)
			cur.ranges = append(cur.ranges, store.Range{Partition: part, Epoch: b.epoch, Start: start, End: end, Expect: b.expect[tenant], Rewound: b.rewound})
			list, start = list[take:], end
		}
	}
	if len(cur.items) > 0 {
		out = append(out, cur)
	}
	return out
}
