package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/claims"
	"github.com/cxpulse/cxpulse/internal/logwatch"
	"github.com/cxpulse/cxpulse/internal/pace"
)

// takeClaim claims a partition in Redis (a new epoch), retrying with
// backoff; false when ctx ends first.
func (p *Pipeline) takeClaim(ctx context.Context, log *zap.Logger, tp string) (claims.Claim, bool) {
	for n := 0; ; n++ {
		cl, err := p.claims.Take(ctx, p.cfg.GroupID, tp)
		if err == nil {
			return cl, true
		}
		log.Warn("claiming partition", zap.Error(err))
		if !pace.Wait(ctx, n) {
			return claims.Claim{}, false
		}
	}
}

// resumeOffset decides where a claimed partition resumes: from its
// recorded offset, from its log start after a rewind or a rebuild, or
// nowhere: the partition is halted (held until ctx ends) when the log no
// longer holds what is next or Redis lost its state. False when it does
// not resume.
func (p *Pipeline) resumeOffset(ctx context.Context, log *zap.Logger, tp string, lw *logwatch.Partition, cl *claims.Claim, rewind int64) (int64, bool) {
	first, end, err := lw.Offsets(ctx)
	for n := 0; err != nil; n++ {
		log.Warn("reading the log offsets", zap.Error(err))
		if !pace.Wait(ctx, n) {
			return 0, false
		}
		first, end, err = lw.Offsets(ctx)
	}
	if rewind > 0 {
		if !p.rewind(ctx, log, lw, cl, rewind, first) {
			return 0, false
		}
	}
	resume, reason := logwatch.ResumeAt(cl.Found, cl.Resume, first, end)
	if reason == "" && !cl.Found {
		reason, err = lw.StateLost(ctx)
		for n := 0; err != nil; n++ {
			log.Warn("reading the group's committed offset", zap.Error(err))
			if !pace.Wait(ctx, n) {
				return 0, false
			}
			reason, err = lw.StateLost(ctx)
		}
	}
	if reason != "" && !cl.Found && p.cfg.OnStateLoss == StateLossRebuild {
		if reason = p.rebuildGap(ctx, lw, first); reason == "" {
			log.Warn("Redis lost its state: rebuilding this partition from its log start (CXPULSE_ON_STATE_LOSS=rebuild)", zap.Int64("from", first))
			p.metrics.rebuilds.Inc()
		}
	}
	if reason != "" {
		log.Error("partition halted", zap.String("reason", reason))
		p.halt(tp, reason)
		<-ctx.Done()
		return 0, false
	}
	return resume, true
}

// partitionReader reads one partition. What the reader does by itself is
// said out loud; skipping what retention deleted, or waiting past the end
// of a replaced log, halts the partition.
func (p *Pipeline) partitionReader(log *zap.Logger, topic string, id int, halt func(*haltError)) *kafka.Reader {
	return p.kafka.Reader(kafka.ReaderConfig{
		Topic:          topic,
		Partition:      id,
		MinBytes:       1,
		MaxBytes:       8 << 20,
		MaxWait:        readerMaxWait,
		QueueCapacity:  maxBatch,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Warn("kafka reader: " + fmt.Sprintf(msg, args...))
			if reason := logwatch.ReaderReport(msg, args); reason != "" {
				halt(&haltError{reason: reason})
			}
		}),
	})
}

// flight is a partition's batch at the applier, at most one.
type flight struct {
	b *batch
	// ends holds, per tenant, how far the group applied its messages of
	// the partition; applied how far this instance applied it.
	ends    map[string]int64
	applied *int64
	commit  func(end int64)
	halt    func(*haltError)
	log     *zap.Logger
}

// wait waits for the batch in flight, if any, and records how far it
// applied; false when it failed (the partition is halted or fenced). It
// waits even if the generation ends meanwhile: the next generation must
// not start on this partition while a batch of it is being applied.
func (f *flight) wait() bool {
	b := f.b
	if b == nil {
		return true
	}
	<-b.settled
	f.b = nil
	if err := b.err; err != nil {
		var h *haltError
		switch {
		case errors.Is(err, errFenced):
			f.log.Warn("partition fenced by a newer claim; stopping work on it")
		case errors.As(err, &h):
			f.halt(h)
		}
		return false
	}
	for _, it := range b.items {
		f.ends[it.Event.Tenant] = b.end()
	}
	atomic.StoreInt64(f.applied, b.end())
	// The Kafka commit is a hint for lag tools, and the sign that Redis
	// held this partition's state: Redis holds the truth about what is
	// applied.
	f.commit(b.end())
	return true
}

// afterPartition settles how the work on a partition ended: a halt that
// asks for the partition to be claimed again is returned; any other is
// recorded, and the assignment kept until ctx ends, so the group does not
// hand it on.
func (p *Pipeline) afterPartition(ctx, wctx context.Context, log *zap.Logger, tp string) (again bool, pendingHalt *haltError) {
	var h *haltError
	if !errors.As(context.Cause(wctx), &h) {
		return false, nil
	}
	if h.reclaim {
		return true, h
	}
	log.Error("partition halted", zap.String("reason", h.reason))
	p.halt(tp, h.reason)
	<-ctx.Done()
	return false, nil
}
