package pipeline

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/claims"
	"github.com/cxpulse/cxpulse/internal/logwatch"
	"github.com/cxpulse/cxpulse/internal/pace"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// With CXPULSE_ON_STATE_LOSS=rebuild, lost state is read back from the
// logs instead of halting: a partition whose claim Redis lost reads again
// from its log start (consume.go), and a tenant found behind what the
// group applied (its state rolled back) has every partition of the group
// rewind, so that it gets back what it lacks from each of them; the other
// tenants' watermarks skip what they hold. `cxpulse rebuild` asks for the
// same rewind after dropping a tenant's state (package rebuild). Neither
// happens when the log no longer reaches back to what the windows and
// periods keep, unless the rebuild accepted the gap.

// pendingRewind returns the group's rewind request this claim has yet to
// carry out (0: none); false when ctx ended. A claim that applied nothing
// yet carries it out too (it starts at its log start anyway), so that a
// tenant being rebuilt takes its messages.
func (p *Pipeline) pendingRewind(ctx context.Context, log *zap.Logger, cl *claims.Claim) (int64, bool) {
	id, err := p.claims.Rewinds(ctx, p.cfg.GroupID)
	for n := 0; err != nil; n++ {
		log.Warn("reading the rewind requests", zap.Error(err))
		if !pace.Wait(ctx, n) {
			return 0, false
		}
		id, err = p.claims.Rewinds(ctx, p.cfg.GroupID)
	}
	if id > cl.Rewind {
		return id, true
	}
	return 0, true
}

// rewind carries out rewind request id for the claimed partition: from
// its log start first, expecting no tenant, when the log reaches back far
// enough; else the partition halts, naming the gap. It returns false when
// the partition is not to be worked on.
func (p *Pipeline) rewind(ctx context.Context, log *zap.Logger, lw *logwatch.Partition, cl *claims.Claim, id, first int64) bool {
	tp := fmt.Sprintf("%s/%d", lw.Topic, lw.ID)
	accepted, err := p.claims.GapAccepted(ctx, p.cfg.GroupID, id)
	if err != nil {
		log.Warn("rewinding", zap.Error(err))
		return false
	}
	if reason := p.rebuildGap(ctx, lw, first); reason != "" && !accepted {
		log.Error("partition halted", zap.String("reason", reason))
		p.halt(tp, reason)
		<-ctx.Done()
		return false
	}
	if err := p.claims.Rewound(ctx, p.cfg.GroupID, tp, cl.Epoch, id, first); err != nil {
		log.Warn("rewinding", zap.Error(err))
		return false
	}
	log.Warn("rewinding: reading this partition again from its log start (a tenant's state was lost or rolled back, or dropped for a rebuild)",
		zap.Int64("from", first), zap.Int64("request", id))
	p.metrics.rebuilds.Inc()
	cl.Resume, cl.Rewind, cl.Tenants = first, id, map[string]int64{}
	return true
}

// rewindAsked returns why a worked partition must be claimed again to
// rewind: a rewind request newer than the one it carried out.
func (p *Pipeline) rewindAsked(ctx context.Context, log *zap.Logger, rewound int64) string {
	id, err := p.claims.Rewinds(ctx, p.cfg.GroupID)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("reading the rewind requests", zap.Error(err))
		}
		return ""
	}
	if id > rewound {
		return fmt.Sprintf("rewind %d of group %s asked for: a tenant's state was lost, rolled back or dropped for a rebuild", id, p.cfg.GroupID)
	}
	return ""
}

// waitRewind waits, for a halted partition, until a rewind newer than
// rewound is asked for (true: claim it again to carry it out) or ctx ends.
func (p *Pipeline) waitRewind(ctx context.Context, rewound int64) bool {
	asked := false
	pace.Every(ctx, claimWatchInterval, func() bool {
		id, err := p.claims.Rewinds(ctx, p.cfg.GroupID)
		asked = err == nil && id > rewound
		return !asked
	})
	return asked
}

// askRewind has every partition of the group rewind, after a tenant's
// state was found behind in b's partition.
func (p *Pipeline) askRewind(ctx context.Context, b *batch) {
	if _, err := p.claims.RequestRewind(ctx, p.cfg.GroupID, b.rewound); err != nil {
		p.log.Warn("asking for a rewind", zap.String("partition", b.partition), zap.Error(err))
	}
}

// rebuildGap returns why a partition cannot be rebuilt from its log start
// first, "" when it can.
func (p *Pipeline) rebuildGap(ctx context.Context, lw *logwatch.Partition, first int64) string {
	if first == 0 {
		return ""
	}
	at, err := lw.FirstTime(ctx, first)
	for n := 0; err != nil; n++ {
		p.log.Warn("reading the oldest message of the log", zap.String("partition", fmt.Sprintf("%s/%d", lw.Topic, lw.ID)), zap.Error(err))
		if !pace.Wait(ctx, n) {
			return ctx.Err().Error()
		}
		at, err = lw.FirstTime(ctx, first)
	}
	return logwatch.RebuildGap(lw.Topic, lw.ID, first, at, p.rules.OldestKept(p.now()), window.FutureTolerance)
}
