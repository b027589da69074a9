package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/logwatch"
	"github.com/cxpulse/cxpulse/internal/pace"
	"github.com/cxpulse/cxpulse/internal/plan"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/pkg/events"
)

var errFenced = errors.New("partition taken over by a newer claim")

// haltError stops work on a partition, loudly, until the next generation
// or a restart tries it again; partition names it when the error is about
// one partition of a combined batch.
// reclaim asks for the partition to be claimed again first: Redis may be
// behind what this instance applied as a whole, which reading again
// repairs; the halt is made only if the claim was not behind.
type haltError struct {
	partition, reason string
	reclaim           bool
	// lost is set when a tenant's state was found behind what the group
	// applied (a rewind can repair it, see rebuild.go).
	lost bool
}

func (e *haltError) Error() string { return e.reason }

// consume runs the consumer-group loop: each generation's partitions are
// worked on until the group rebalances.
func (p *Pipeline) consume(ctx context.Context) error {
	cg, err := p.kafka.ConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                     p.cfg.GroupID,
		Topics:                 p.cfg.Consumed(),
		SessionTimeout:         SessionTimeout,
		RebalanceTimeout:       SessionTimeout,
		HeartbeatInterval:      time.Second,
		PartitionWatchInterval: 5 * time.Second,
		WatchPartitionChanges:  true,
		JoinGroupBackoff:       500 * time.Millisecond,
		StartOffset:            kafka.FirstOffset,
		ErrorLogger:            kafka.LoggerFunc(func(msg string, args ...any) { p.log.Debug(fmt.Sprintf(msg, args...)) }),
	})
	if err != nil {
		return fmt.Errorf("creating consumer group %s: %w", p.cfg.GroupID, err)
	}
	defer cg.Close()
	for n := 0; ; {
		gen, err := cg.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			p.log.Warn("joining consumer group", zap.Error(err))
			if !pace.Wait(ctx, n) {
				return nil
			}
			n++
			continue
		}
		n = 0
		var parts []string
		for topic, assigned := range gen.Assignments {
			for _, a := range assigned {
				topic, id := topic, a.ID
				parts = append(parts, fmt.Sprintf("%s/%d", topic, id))
				gen.Start(func(gctx context.Context) { p.runPartition(gctx, gen, topic, id) })
			}
		}
		p.log.Info("group generation", zap.Int32("generation", gen.ID), zap.Strings("partitions", parts))
	}
}

// runPartition works on a partition until the generation ends, a newer
// claim fences this one, or a gap in the log or lost state halts it. When
// Redis turns out to be behind what this instance applied (a failover to a
// replica that had not caught up), the partition is claimed again and read
// again from where Redis says.
func (p *Pipeline) runPartition(ctx context.Context, gen *kafka.Generation, topic string, id int) {
	applied := int64(-1) // the end this instance last committed; -1: none
	var behind *haltError
	for ctx.Err() == nil {
		var again bool
		if again, behind = p.workPartition(ctx, gen, topic, id, &applied, behind); !again {
			return
		}
	}
}

// workPartition claims a partition, resumes from the offset recorded in
// Redis and applies batch after batch. It returns true to be called again
// when Redis was found behind what this instance applied, with the halt
// to make if the claim itself was not (a tenant's state rolled back on its
// own).
func (p *Pipeline) workPartition(ctx context.Context, gen *kafka.Generation, topic string, id int, applied *int64, behind *haltError) (again bool, pendingHalt *haltError) {
	tp := fmt.Sprintf("%s/%d", topic, id)
	log := p.log.With(zap.String("partition", tp))
	cl, ok := p.takeClaim(ctx, log, tp)
	if !ok {
		return false, nil
	}
	rewind, ok := p.pendingRewind(ctx, log, &cl)
	if !ok {
		return false, nil
	}
	switch {
	case rewind > 0:
		// Decided below, once the log start is known.
	case atomic.LoadInt64(applied) >= 0 && cl.Found && cl.Resume < atomic.LoadInt64(applied):
		// The whole of Redis is an earlier, consistent state: reading
		// again from its resume offset makes it exact again.
		log.Warn("Redis is behind what this instance applied (a failover to a replica that had not caught up?): reading again from its resume offset",
			zap.Int64("applied", *applied), zap.Int64("resume", cl.Resume))
		p.metrics.rereads.Inc()
	case behind != nil && (cl.Found || p.cfg.OnStateLoss != StateLossRebuild):
		// (With rebuild, a claim gone with the tenant's state is a state
		// loss, decided below.) A rebuild asked for meanwhile mends it.
		log.Error("partition halted", zap.String("reason", behind.reason))
		p.halt(tp, behind.reason)
		return p.waitRewind(ctx, cl.Rewind), nil
	}
	atomic.StoreInt64(applied, -1)
	p.unhalt(tp) // a halt is decided anew by every claim
	lw := &logwatch.Partition{Admin: p.admin, Group: p.cfg.GroupID, Topic: topic, ID: id}
	resume, ok := p.resumeOffset(ctx, log, tp, lw, &cl, rewind)
	if !ok {
		return false, nil
	}
	epoch := cl.Epoch
	// ends holds, per tenant, how far the group applied its messages of
	// the partition; a batch reads it while in flight and it is updated
	// only between batches, once the one in flight is applied.
	ends := cl.Tenants
	log.Info("partition claimed", zap.Int64("epoch", epoch), zap.Int64("resume", resume))

	// The offsets fetched must follow on from resume; the reader's own
	// reports and a watch on the log halt the partition when the log no
	// longer holds what is next.
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	halt := func(h *haltError) { cancel(h) }
	lw.Next.Store(resume)
	r := p.partitionReader(log, topic, id, halt)
	defer r.Close()
	if err := r.SetOffset(resume); err != nil {
		log.Error("seeking", zap.Error(err))
		return false, nil
	}
	atomic.StoreInt64(applied, resume)
	go p.watchClaim(wctx, log, tp, epoch, cl.Rewind, resume, applied, halt)
	go lw.Watch(wctx, log, func(reason string) { halt(&haltError{reason: reason}) })
	// One batch is in flight at the applier while the next one is fetched
	// and decoded; the next is handed over only once the one before it is
	// applied, so a failed batch is never overtaken.
	fl := &flight{ends: ends, applied: applied, halt: halt, log: log,
		commit: func(end int64) { _ = gen.CommitOffsets(map[string]map[int]int64{topic: {id: end}}) }}
	defer func() {
		fl.wait()
		again, pendingHalt = p.afterPartition(ctx, wctx, log, tp)
	}()
	p.feed(ctx, wctx, log, r, lw, fl, batch{partition: tp, epoch: epoch, expect: ends, rewound: cl.Rewind})
	return false, nil // the deferred check may ask for another claim
}

// feed fetches batch after batch from r, checks that they follow on,
// decodes them and hands them to the applier one at a time, until wctx
// ends or the partition halts. Each batch is of the partition, epoch and
// expectations of like.
func (p *Pipeline) feed(ctx, wctx context.Context, log *zap.Logger, r *kafka.Reader, lw *logwatch.Partition, fl *flight, like batch) {
	dec := events.NewDecoder(events.Tolerant)
	size := 0 // of the previous batch, to size the next one
	for wctx.Err() == nil {
		msgs, err := fetchBatch(wctx, r, maxBatch, size)
		if err != nil {
			if wctx.Err() == nil {
				log.Warn("fetching", zap.Error(err))
			}
			continue
		}
		if reason := lw.CheckFetched(wctx, msgs); reason != "" {
			fl.halt(&haltError{reason: reason})
			return
		}
		// Decoding happens here, in parallel across partitions and while the
		// applier is busy with earlier batches.
		req := &batch{ctx: ctx, partition: like.partition, epoch: like.epoch, msgs: msgs, done: make(chan error, 1), settled: make(chan struct{}),
			items: make([]*item, 0, len(msgs)), expect: like.expect, rewound: like.rewound}
		p.classifyAll(dec, req, msgs)
		if !fl.wait() {
			return
		}
		// What arrived while the batch before was applied joins this one,
		// so that it waits for one application rather than two.
		if n := len(req.msgs); n < maxBatch {
			req.msgs = fetchAvailable(wctx, r, req.msgs, maxBatch, topUpWait)
			if reason := lw.CheckFetched(wctx, req.msgs[n:]); reason != "" {
				fl.halt(&haltError{reason: reason})
				return
			}
			p.classifyAll(dec, req, req.msgs[n:])
		}
		size = len(req.msgs)
		select {
		case p.batches <- req:
			fl.b = req
			// A batch that halts the partition stops the fetch at once, even
			// when nothing more arrives to fetch.
			go func() {
				req.err = <-req.done
				close(req.settled)
				var h *haltError
				if errors.As(req.err, &h) {
					fl.halt(h)
				}
			}()
		case <-wctx.Done():
			return
		}
	}
}

// claimWatchInterval is how often a worked partition's claim is checked
// against what this instance applied.
var claimWatchInterval = 2 * time.Second

// watchClaim halts the partition, asking for it to be claimed again, when
// its claim in Redis is behind what this instance applied or gone: Redis
// lost writes (a failover to a replica that had not caught up) even if
// nothing more arrives to apply. start is where this claim began reading:
// a claim without a resume offset has applied nothing past it.
func (p *Pipeline) watchClaim(ctx context.Context, log *zap.Logger, tp string, epoch, rewound, start int64, applied *int64, halt func(*haltError)) {
	pace.Every(ctx, claimWatchInterval, func() bool {
		if reason := p.rewindAsked(ctx, log, rewound); reason != "" {
			halt(&haltError{reclaim: true, reason: reason})
			return false
		}
		// applied is read first: it is stored only once Redis holds it.
		done := atomic.LoadInt64(applied)
		cl, err := p.claims.Peek(ctx, p.cfg.GroupID, tp)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				log.Warn("checking the claim", zap.Error(err))
			}
		case cl.Epoch > epoch:
			return false // a newer claim; the next commit is fenced
		case cl.Epoch < epoch || (cl.Found && cl.Resume < done) || (!cl.Found && done > start):
			halt(&haltError{reclaim: true, reason: fmt.Sprintf("the claim of %s in Redis (epoch %d, resume %d) is behind this instance's (epoch %d, applied up to %d)",
				tp, cl.Epoch, cl.Resume, epoch, done)})
			return false
		}
		return true
	})
}

// fetchAvailable appends to msgs, up to limit in all, the messages the
// reader already holds or that arrive within wait.
func fetchAvailable(ctx context.Context, r *kafka.Reader, msgs []kafka.Message, limit int, wait time.Duration) []kafka.Message {
	c, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for len(msgs) < limit {
		m, err := r.FetchMessage(c)
		if err != nil {
			break
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// fetchBatch blocks for one message, then takes what else arrives within
// batchGather, up to limit; hint is the expected size.
func fetchBatch(ctx context.Context, r *kafka.Reader, limit, hint int) ([]kafka.Message, error) {
	m, err := r.FetchMessage(ctx)
	if err != nil {
		return nil, err
	}
	msgs := make([]kafka.Message, 1, min(limit, max(hint+hint/4, 16)))
	msgs[0] = m
	return fetchAvailable(ctx, r, msgs, limit, batchGather), nil
}

// batch is one fetched batch of one partition, handed to the applier.
type batch struct {
	ctx       context.Context // the consumer-group generation's
	partition string          // topic/partition
	epoch     int64
	msgs      []kafka.Message
	items     []*item        // the messages to count, decoded
	direct    []store.Letter // dead letters that need no stored state
	// expect holds, per tenant, how far the group applied its messages of
	// the partition (read only while the batch is in flight).
	expect map[string]int64
	// rewound is the last rewind request the partition carried out.
	rewound int64
	// done receives the applier's outcome; settled is closed once err
	// holds it.
	done    chan error
	settled chan struct{}
	err     error
}

func (b *batch) start() int64 { return b.msgs[0].Offset }
func (b *batch) end() int64   { return b.msgs[len(b.msgs)-1].Offset + 1 }

// item is one valid, counted event of a tenant slice.
type item struct {
	plan.Item        // Msg points into its batch's messages
	partition string // topic/partition
}

// classifyAll decodes msgs, the latest messages of req, into its items
// and dead letters.
func (p *Pipeline) classifyAll(dec *events.Decoder, req *batch, msgs []kafka.Message) {
	slab := make([]item, len(msgs)) // the batch's items, in one allocation
	for i := range msgs {
		it := &slab[i]
		if letter := p.classify(dec, &msgs[i], it); letter != nil {
			req.direct = append(req.direct, *letter)
			continue
		}
		it.partition = req.partition
		req.items = append(req.items, it)
	}
}

// classify decodes one message into it, the item to count, or returns a
// dead letter that needs no stored state. Lateness is decided later, by
// checkTime, at the instant of the slice.
func (p *Pipeline) classify(dec *events.Decoder, m *kafka.Message, it *item) *store.Letter {
	value := m.Value
	if isCloudEvent(m.Headers) {
		// CloudEvents binary mode (the Kafka protocol binding): the
		// attributes in ce_* headers, the data as the value.
		mapped, err := events.FromBinaryCloudEvent(events.CloudEventHeaders("ce_", func(yield func(string, string) bool) {
			for _, h := range m.Headers {
				if !yield(h.Key, string(h.Value)) {
					return
				}
			}
		}), m.Value)
		if err != nil {
			return p.rules.Check(m, nil, err)
		}
		value = mapped
	}
	ev, unknown, err := dec.Decode(value)
	if len(unknown) > 0 {
		p.metrics.unknownFields.Add(float64(len(unknown)))
	}
	if letter := p.rules.Check(m, &ev, err); letter != nil {
		return letter
	}
	*it = item{Item: plan.Item{Msg: m, Event: ev}}
	if s := ev.Survey; s != nil && s.Metric == events.MetricNPS && s.Comment != "" {
		it.Terms = alerts.Terms(s.Comment)
	}
	return nil
}

// isCloudEvent reports whether a message is a CloudEvent in binary mode.
func isCloudEvent(headers []kafka.Header) bool {
	for _, h := range headers {
		if strings.EqualFold(h.Key, "ce_specversion") {
			return true
		}
	}
	return false
}

// checkTime marks an item whose time is out of bounds at now.
func (p *Pipeline) checkTime(it *item, now time.Time) {
	it.TimeErr, it.Detail = p.rules.CheckTime(&it.Event, now)
}
