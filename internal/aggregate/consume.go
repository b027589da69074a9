package aggregate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/window"
)

var errFenced = errors.New("partition taken over by a newer claim")

// consume runs the consumer-group loop: each generation's partitions are
// worked on until the group rebalances.
func (a *Aggregator) consume(ctx context.Context) error {
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                     a.cfg.GroupID,
		Brokers:                a.cfg.KafkaBrokers,
		Topics:                 a.inputTopics(),
		SessionTimeout:         sessionTimeout,
		RebalanceTimeout:       sessionTimeout,
		HeartbeatInterval:      time.Second,
		PartitionWatchInterval: 5 * time.Second,
		WatchPartitionChanges:  true,
		JoinGroupBackoff:       500 * time.Millisecond,
		StartOffset:            kafka.FirstOffset,
		ErrorLogger:            kafka.LoggerFunc(func(msg string, args ...any) { a.log.Debug(fmt.Sprintf(msg, args...)) }),
	})
	if err != nil {
		return fmt.Errorf("creating consumer group %s: %w", a.cfg.GroupID, err)
	}
	defer cg.Close()
	for n := 0; ; {
		gen, err := cg.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			a.log.Warn("joining consumer group", zap.Error(err))
			if !backoff(ctx, n) {
				return nil
			}
			n++
			continue
		}
		n = 0
		var parts []string
		for topic, assigned := range gen.Assignments {
			for _, p := range assigned {
				topic, id := topic, p.ID
				parts = append(parts, fmt.Sprintf("%s/%d", topic, id))
				gen.Start(func(gctx context.Context) { a.runPartition(gctx, gen, topic, id) })
			}
		}
		a.log.Info("group generation", zap.Int32("generation", gen.ID), zap.Strings("partitions", parts))
	}
}

// runPartition claims a partition, resumes from the offset recorded in
// Redis and applies batch after batch until the generation ends or a newer
// claim fences this one.
func (a *Aggregator) runPartition(ctx context.Context, gen *kafka.Generation, topic string, id int) {
	tp := fmt.Sprintf("%s/%d", topic, id)
	log := a.log.With(zap.String("partition", tp))
	var epoch, resume int64
	var found bool
	for n := 0; ; n++ {
		var err error
		if epoch, resume, found, err = a.store.Claim(ctx, a.cfg.GroupID, tp); err == nil {
			break
		}
		log.Warn("claiming partition", zap.Error(err))
		if !backoff(ctx, n) {
			return
		}
	}
	first, err := a.logStart(ctx, topic, id)
	for n := 0; err != nil; n++ {
		log.Warn("reading log start offset", zap.Error(err))
		if !backoff(ctx, n) {
			return
		}
		first, err = a.logStart(ctx, topic, id)
	}
	switch {
	case !found:
		resume = first
	case resume < first:
		reason := fmt.Sprintf("resume offset %d was deleted by retention (log starts at %d): not skipping silently; reset the claim in Redis deliberately to go on", resume, first)
		log.Error("partition halted", zap.String("reason", reason))
		a.halt(tp, reason)
		<-ctx.Done()
		return
	}
	log.Info("partition claimed", zap.Int64("epoch", epoch), zap.Int64("resume", resume))

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        a.cfg.KafkaBrokers,
		Topic:          topic,
		Partition:      id,
		MinBytes:       1,
		MaxBytes:       8 << 20,
		MaxWait:        readerMaxWait,
		QueueCapacity:  maxBatch,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
	})
	defer r.Close()
	if err := r.SetOffset(resume); err != nil {
		log.Error("seeking", zap.Error(err))
		return
	}
	for ctx.Err() == nil {
		msgs, err := fetchBatch(ctx, r, maxBatch)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("fetching", zap.Error(err))
			}
			continue
		}
		for n := 0; ; n++ {
			err := a.processBatch(ctx, tp, epoch, msgs)
			if err == nil {
				break
			}
			if errors.Is(err, errFenced) {
				log.Warn("partition fenced by a newer claim; stopping work on it")
				return
			}
			log.Warn("applying batch; will retry", zap.Error(err))
			if !backoff(ctx, n) {
				return
			}
		}
		end := msgs[len(msgs)-1].Offset + 1
		// The Kafka commit is only a hint for lag tools: Redis holds the
		// truth about what is applied.
		_ = gen.CommitOffsets(map[string]map[int]int64{topic: {id: end}})
	}
}

// fetchBatch blocks for one message, then takes what else arrives within
// batchGather, up to max.
func fetchBatch(ctx context.Context, r *kafka.Reader, max int) ([]kafka.Message, error) {
	m, err := r.FetchMessage(ctx)
	if err != nil {
		return nil, err
	}
	msgs := []kafka.Message{m}
	deadline := time.Now().Add(batchGather)
	for len(msgs) < max {
		c, cancel := context.WithDeadline(ctx, deadline)
		m, err := r.FetchMessage(c)
		cancel()
		if err != nil {
			break
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

func (a *Aggregator) logStart(ctx context.Context, topic string, id int) (int64, error) {
	res, err := a.kafka.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: {kafka.FirstOffsetOf(id)}}})
	if err != nil {
		return 0, err
	}
	for _, p := range res.Topics[topic] {
		if p.Partition == id {
			return p.FirstOffset, p.Error
		}
	}
	return 0, fmt.Errorf("no offsets for %s/%d", topic, id)
}

// processBatch applies one fetched batch of one partition: dead letters
// that need no state are written first, then each tenant's slice, then the
// partition's resume offset.
func (a *Aggregator) processBatch(ctx context.Context, tp string, epoch int64, msgs []kafka.Message) error {
	began := time.Now()
	now := a.now()
	start, end := msgs[0].Offset, msgs[len(msgs)-1].Offset+1
	dec := events.NewDecoder(events.Tolerant)
	slices := map[string][]*item{}
	var order []string
	var direct []store.Letter
	for _, m := range msgs {
		it, letter := a.classify(dec, m, now)
		switch {
		case letter != nil:
			direct = append(direct, *letter)
		case it != nil:
			t := it.ev.Tenant
			if _, ok := slices[t]; !ok {
				order = append(order, t)
			}
			slices[t] = append(slices[t], it)
		}
	}
	if err := a.writeLetters(ctx, direct); err != nil {
		return err
	}
	for _, l := range direct {
		a.metrics.deadLetters.WithLabelValues(l.Reason).Inc()
	}
	for _, t := range order {
		if err := a.applyTenant(ctx, tp, epoch, t, slices[t], start, end, now); err != nil {
			return err
		}
	}
	if err := a.store.Commit(ctx, a.cfg.GroupID, tp, epoch, end); err != nil {
		if errors.Is(err, store.ErrFenced) {
			return errFenced
		}
		return err
	}
	topic := msgs[0].Topic
	a.metrics.consumed.WithLabelValues(topic).Add(float64(len(msgs)))
	a.metrics.batchSize.Observe(float64(len(msgs)))
	a.metrics.applySeconds.Observe(time.Since(began).Seconds())
	return nil
}

// classify decodes one message. It returns the item to count, a dead
// letter that needs no stored state, or neither (an event acknowledged
// without counting).
func (a *Aggregator) classify(dec *events.Decoder, m kafka.Message, now time.Time) (*item, *store.Letter) {
	dead := func(reason, detail string) (*item, *store.Letter) {
		return nil, &store.Letter{Key: m.Key, Value: m.Value, Reason: reason, Detail: detail, Source: source(m)}
	}
	ev, unknown, err := dec.Decode(m.Value)
	if len(unknown) > 0 {
		a.metrics.unknownFields.Add(float64(len(unknown)))
	}
	var verr *events.ValidationError
	switch {
	case errors.Is(err, events.ErrMalformed):
		return dead(ReasonMalformed, err.Error())
	case errors.As(err, &verr):
		return dead(ReasonInvalid, verr.Error())
	case err != nil:
		return dead(ReasonInvalid, err.Error())
	}
	if want := ev.Topic(a.cfg.TopicPrefix); want != m.Topic {
		return dead(ReasonInvalid, fmt.Sprintf("type: %s belongs on %s, not %s", ev.Type, want, m.Topic))
	}
	t, known := a.tenants.Get(ev.Tenant)
	if !known {
		return dead(ReasonUnknownTenant, fmt.Sprintf("tenant: %q is not in the tenants file", ev.Tenant))
	}
	if ev.Purchase != nil && ev.Purchase.Currency != "" && t.Currency != "" && ev.Purchase.Currency != t.Currency {
		return dead(ReasonCurrency, fmt.Sprintf("purchase.currency: %s is not the reporting currency %s of tenant %s", ev.Purchase.Currency, t.Currency, ev.Tenant))
	}
	if !counted(ev.Type) {
		return nil, nil
	}
	it := &item{msg: m, ev: ev}
	switch {
	case window.InFuture(ev.OccurredAt, now):
		it.timeErr = ReasonInFuture
		it.detail = fmt.Sprintf("occurred_at: %s is more than %s ahead of %s", ev.OccurredAt.Format(time.RFC3339Nano), window.FutureTolerance, now.UTC().Format(time.RFC3339))
	case a.largest.TooLate(ev.OccurredAt, now):
		it.timeErr = ReasonTooLate
		it.detail = fmt.Sprintf("occurred_at: %s is older than the largest window (%s) at %s", ev.OccurredAt.Format(time.RFC3339Nano), a.largest.Name, now.UTC().Format(time.RFC3339))
	}
	return it, nil
}

// applyTenant applies one tenant's items of a batch, in slices of at most
// maxSliceEvents with contiguous offset ranges.
func (a *Aggregator) applyTenant(ctx context.Context, tp string, epoch int64, tenant string, items []*item, start, end int64, now time.Time) error {
	dims := make([]map[string]string, len(items))
	for i, it := range items {
		dims[i] = it.ev.Dims
	}
	if err := a.scoper.resolve(ctx, tenant, dims); err != nil {
		return err
	}
	for _, it := range items {
		it.scopes = a.scoper.scopes(tenant, it.ev.Dims)
	}
	if err := a.store.AddTenant(ctx, tenant); err != nil {
		return err
	}
	for from := 0; from < len(items); from += maxSliceEvents {
		to := min(from+maxSliceEvents, len(items))
		s, e := start, end
		if from > 0 {
			s = items[from].msg.Offset
		}
		if to < len(items) {
			e = items[to].msg.Offset
		}
		if err := a.applySlice(ctx, tp, epoch, tenant, items[from:to], s, e, now); err != nil {
			return err
		}
	}
	return nil
}

func (a *Aggregator) applySlice(ctx context.Context, tp string, epoch int64, tenant string, items []*item, start, end int64, now time.Time) error {
	known := map[string]*store.Record{}
	for attempt := 0; attempt < 20; attempt++ {
		p := makePlan(a.cfg.Windows, items, known, now)
		p.slice.Tenant, p.slice.Partition, p.slice.Epoch = tenant, tp, epoch
		p.slice.Start, p.slice.End, p.slice.Now = start, end, now
		res, err := a.store.Apply(ctx, &p.slice)
		if err != nil {
			return err
		}
		switch res.Outcome {
		case store.Applied:
			a.metrics.applied.Add(float64(p.applied))
			a.metrics.revisions.Add(float64(p.revisions))
			a.metrics.duplicates.Add(float64(p.dups))
			for _, l := range p.slice.Letters {
				a.metrics.deadLetters.WithLabelValues(l.Reason).Inc()
			}
			return nil
		case store.Fenced:
			return errFenced
		case store.Skipped:
			if res.Watermark >= end {
				return nil
			}
			kept := items[:0:0]
			for _, it := range items {
				if it.msg.Offset >= res.Watermark {
					kept = append(kept, it)
				}
			}
			items, start = kept, res.Watermark
		case store.Conflict:
			for id, rec := range res.Conflicts {
				known[id] = rec
			}
		}
	}
	return fmt.Errorf("slice of tenant %s in %s [%d,%d) did not settle", tenant, tp, start, end)
}

// writeLetters writes dead letters to cx.deadletter and waits for the
// acknowledgement, so nothing is acknowledged before its dead letter is
// written. A retried write may repeat a letter; cxpulse-source identifies
// it.
func (a *Aggregator) writeLetters(ctx context.Context, letters []store.Letter) error {
	if len(letters) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(letters))
	for i, l := range letters {
		msgs[i] = kafka.Message{Topic: a.topic("deadletter"), Key: l.Key, Value: l.Value, Headers: []kafka.Header{
			{Key: "cxpulse-error", Value: []byte(l.Reason)},
			{Key: "cxpulse-detail", Value: []byte(l.Detail)},
			{Key: "cxpulse-source", Value: []byte(l.Source)},
		}}
	}
	if err := a.dlWriter.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("writing %d dead letters: %w", len(msgs), err)
	}
	return nil
}
