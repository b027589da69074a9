package aggregate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/cxpulse/cxpulse/internal/alerts"
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
	dec := events.NewDecoder(events.Tolerant)
	// One batch is in flight at the applier while the next one is fetched
	// and decoded; the next is handed over only once the one before it is
	// applied, so a failed batch is never overtaken.
	var inflight *batch
	wait := func() bool {
		if inflight == nil {
			return true
		}
		// Wait for the outcome even if the generation ends meanwhile: the
		// next generation must not start on this partition while a batch
		// of it is being applied.
		err := <-inflight.done
		b := inflight
		inflight = nil
		if err != nil {
			if errors.Is(err, errFenced) {
				log.Warn("partition fenced by a newer claim; stopping work on it")
			}
			return false
		}
		// The Kafka commit is only a hint for lag tools: Redis holds the
		// truth about what is applied.
		_ = gen.CommitOffsets(map[string]map[int]int64{topic: {id: b.end()}})
		return true
	}
	defer wait()
	last := 0 // size of the previous batch, to size the next one
	for ctx.Err() == nil {
		msgs, err := fetchBatch(ctx, r, maxBatch, last)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("fetching", zap.Error(err))
			}
			continue
		}
		// Decoding happens here, in parallel across partitions and while the
		// applier is busy with earlier batches.
		req := &batch{ctx: ctx, partition: tp, epoch: epoch, msgs: msgs, done: make(chan error, 1),
			items: make([]*item, 0, len(msgs))}
		a.classifyAll(dec, req, msgs)
		if !wait() {
			return
		}
		// What arrived while the batch before was applied joins this one,
		// so that it waits for one application rather than two.
		if n := len(req.msgs); n < maxBatch {
			req.msgs = fetchAvailable(ctx, r, req.msgs, maxBatch, topUpWait)
			a.classifyAll(dec, req, req.msgs[n:])
		}
		last = len(req.msgs)
		select {
		case a.batches <- req:
			inflight = req
		case <-ctx.Done():
			return
		}
	}
}

// classifyAll decodes msgs, the latest messages of req, into its items
// and dead letters.
func (a *Aggregator) classifyAll(dec *events.Decoder, req *batch, msgs []kafka.Message) {
	slab := make([]item, len(msgs)) // one allocation for the batch's items
	for i := range msgs {
		it := &slab[i]
		if letter := a.classify(dec, &msgs[i], it); letter != nil {
			req.direct = append(req.direct, *letter)
			continue
		}
		it.partition = req.partition
		req.items = append(req.items, it)
	}
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

// batch is one fetched batch of one partition, handed to the applier.
type batch struct {
	ctx       context.Context // the consumer-group generation's
	partition string          // topic/partition
	epoch     int64
	msgs      []kafka.Message
	items     []*item        // the messages to count, decoded
	direct    []store.Letter // dead letters that need no stored state
	done      chan error
}

func (b *batch) start() int64 { return b.msgs[0].Offset }
func (b *batch) end() int64   { return b.msgs[len(b.msgs)-1].Offset + 1 }

// applier applies the batches of every partition this instance holds,
// combining those that arrive together so that each tenant gets one script
// call for all of them: the per-call cost is shared by more events.
//
// The partitions of one combined batch hand over their next batches as soon
// as it is applied: the next combined batch waits combineWait for others,
// and up to combineWaitMax for as many as the one before held, so that none
// of them misses it and waits a whole application for the one after.
func (a *Aggregator) applier(ctx context.Context) error {
	expect := 0
	for {
		var reqs []*batch
		select {
		case <-ctx.Done():
			return nil
		case r := <-a.batches:
			reqs = append(reqs, r)
		}
		n := len(reqs[0].msgs)
		short, long := time.NewTimer(combineWait), time.NewTimer(combineWaitMax)
		waited := false
	gather:
		for n < maxCombined && !(waited && len(reqs) >= expect) {
			select {
			case r := <-a.batches:
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
		a.applyBatches(ctx, reqs)
	}
}

// applyBatches applies reqs, retrying with backoff until each is applied,
// fenced, or its generation has ended; it then answers each request.
func (a *Aggregator) applyBatches(ctx context.Context, reqs []*batch) {
	for n := 0; len(reqs) > 0; n++ {
		fenced, err := a.processBatches(ctx, reqs)
		if fenced != "" {
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
		a.log.Warn("applying batches; will retry", zap.Int("batches", len(reqs)), zap.Error(err))
		backoff(ctx, n) // an ended ctx answers every request below
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

// processBatches applies fetched batches of several partitions: dead
// letters that need no state are written first, then each tenant's slice,
// then each partition's resume offset. It returns the partition of a
// fenced claim, if any.
func (a *Aggregator) processBatches(ctx context.Context, reqs []*batch) (fenced string, err error) {
	began := time.Now()
	now := a.now()
	byTenant := map[string][]*item{}
	var order []string
	var direct []store.Letter
	ranges := map[string]*batch{}
	for _, r := range reqs {
		ranges[r.partition] = r
		direct = append(direct, r.direct...)
		for _, it := range r.items {
			a.checkTime(it, now)
			t := it.ev.Tenant
			if _, ok := byTenant[t]; !ok {
				order = append(order, t)
			}
			byTenant[t] = append(byTenant[t], it)
		}
	}
	if err := a.writeLetters(ctx, direct); err != nil {
		return "", err
	}
	// Tenants are independent (their keys share no slot), so their slices
	// run concurrently: one tenant's planning overlaps another's script.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(tenantParallelism)
	var fenceMu sync.Mutex
	for _, t := range order {
		g.Go(func() error {
			f, err := a.applyTenant(gctx, t, byTenant[t], ranges, now)
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
		return "", err
	}
	commits := make([]store.Range, len(reqs))
	for i, r := range reqs {
		commits[i] = store.Range{Partition: r.partition, Epoch: r.epoch, End: r.end()}
	}
	if fenced, err := a.store.CommitMany(ctx, a.cfg.GroupID, commits); fenced != "" || err != nil {
		return fenced, err
	}
	for _, l := range direct {
		a.metrics.deadLetters.WithLabelValues(l.Reason).Inc()
	}
	for _, r := range reqs {
		a.metrics.consumed.WithLabelValues(r.msgs[0].Topic).Add(float64(len(r.msgs)))
		a.metrics.batchSize.Observe(float64(len(r.msgs)))
	}
	a.metrics.applySeconds.Observe(time.Since(began).Seconds())
	return "", nil
}

// classify decodes one message into it, the item to count, or returns a
// dead letter that needs no stored state. Lateness is decided later, by
// checkTime.
func (a *Aggregator) classify(dec *events.Decoder, m *kafka.Message, it *item) *store.Letter {
	dead := func(reason, detail string) *store.Letter {
		return &store.Letter{Key: m.Key, Value: m.Value, Reason: reason, Detail: detail, Source: source(m)}
	}
	ev, unknown, err := dec.Decode(m.Value)
	if len(unknown) > 0 {
		a.metrics.unknownFields.Add(float64(len(unknown)))
	}
	switch {
	case err == nil:
	case errors.Is(err, events.ErrMalformed):
		return dead(ReasonMalformed, err.Error())
	default:
		var verr *events.ValidationError // declared here: taking its address costs an allocation
		if errors.As(err, &verr) {
			return dead(ReasonInvalid, verr.Error())
		}
		return dead(ReasonInvalid, err.Error())
	}
	if want := a.topicOf[ev.Type]; want != m.Topic {
		return dead(ReasonInvalid, fmt.Sprintf("type: %s belongs on %s, not %s", ev.Type, want, m.Topic))
	}
	t, known := a.tenants.Get(ev.Tenant)
	if !known {
		return dead(ReasonUnknownTenant, fmt.Sprintf("tenant: %q is not in the tenants file", ev.Tenant))
	}
	if ev.Purchase != nil && ev.Purchase.Currency != "" && t.Currency != "" && ev.Purchase.Currency != t.Currency {
		return dead(ReasonCurrency, fmt.Sprintf("purchase.currency: %s is not the reporting currency %s of tenant %s", ev.Purchase.Currency, t.Currency, ev.Tenant))
	}
	*it = item{msg: m, ev: ev}
	if s := ev.Survey; s != nil && s.Metric == events.MetricNPS && s.Score <= 6 && s.Comment != "" {
		it.terms = alerts.Terms(s.Comment)
	}
	return nil
}

// checkTime marks an item whose time is out of bounds at now: more than
// the tolerance ahead, or in no window. Purchases and cancellations count
// for their customer's history while within the largest window plus the
// tenant's inactivity horizon (DESIGN §3).
func (a *Aggregator) checkTime(it *item, now time.Time) {
	ev := &it.ev
	it.timeErr, it.detail = "", ""
	horizon := time.Duration(0)
	if shapesHistory(ev.Type) {
		t, _ := a.tenants.Get(ev.Tenant)
		horizon = t.ChurnInactivity
	}
	switch {
	case window.InFuture(ev.OccurredAt, now):
		it.timeErr = ReasonInFuture
		it.detail = fmt.Sprintf("occurred_at: %s is more than %s ahead of %s", ev.OccurredAt.Format(time.RFC3339Nano), window.FutureTolerance, now.UTC().Format(time.RFC3339))
	case a.largest.TooLate(ev.OccurredAt, now.Add(-horizon)):
		it.timeErr = ReasonTooLate
		it.detail = fmt.Sprintf("occurred_at: %s is older than the largest window (%s) at %s", ev.OccurredAt.Format(time.RFC3339Nano), a.largest.Name, now.UTC().Format(time.RFC3339))
		if horizon > 0 {
			it.detail = fmt.Sprintf("occurred_at: %s is older than the largest window (%s) plus the inactivity horizon (%s) at %s",
				ev.OccurredAt.Format(time.RFC3339Nano), a.largest.Name, window.FormatDuration(horizon), now.UTC().Format(time.RFC3339))
		}
	}
}

// customerHorizon returns the customer-state durations of a tenant.
func (a *Aggregator) customerHorizon(tenant string) customerHorizon {
	t, _ := a.tenants.Get(tenant)
	return newCustomerHorizon(a.largest, t.ChurnInactivity)
}

// applyTenant applies one tenant's items of the combined batches, in
// slices of at most maxSliceEvents events whose ranges stay contiguous per
// partition.
func (a *Aggregator) applyTenant(ctx context.Context, tenant string, items []*item, batches map[string]*batch, now time.Time) (string, error) {
	dims := make([]map[string]string, len(items))
	for i, it := range items {
		dims[i] = it.ev.Dims
	}
	if err := a.scoper.resolve(ctx, tenant, dims); err != nil {
		return "", err
	}
	for _, it := range items {
		it.scopes = a.scoper.scopes(tenant, it.ev.Dims)
	}
	if _, known := a.knownTenants.Load(tenant); !known {
		if err := a.store.AddTenant(ctx, tenant); err != nil {
			return "", err
		}
		a.knownTenants.Store(tenant, true)
	}
	for _, sl := range cut(items, batches, maxSliceEvents) {
		if fenced, err := a.applySlice(ctx, tenant, sl.items, sl.ranges, nil, now); fenced != "" || err != nil {
			return fenced, err
		}
	}
	return "", nil
}

// piece is one script call's share of a tenant's items.
type piece struct {
	items  []*item
	ranges []store.Range
}

// cut splits a tenant's items (grouped by partition, in offset order) into
// pieces of at most max items. Each piece covers, per partition, a
// contiguous offset range; together the pieces cover each batch's range
// exactly once, so watermarks advance in order.
func cut(items []*item, batches map[string]*batch, max int) []piece {
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
	for _, p := range parts {
		list, b := byPart[p], batches[p]
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
				end = list[take].msg.Offset
			}
			cur.items = append(cur.items, list[:take]...)
			cur.ranges = append(cur.ranges, store.Range{Partition: p, Epoch: b.epoch, Start: start, End: end})
			list, start = list[take:], end
		}
	}
	if len(cur.items) > 0 {
		out = append(out, cur)
	}
	return out
}

// applySlice plans and applies one tenant slice: items over ranges, or
// (with no ranges) the customers due for a look with no new event.
func (a *Aggregator) applySlice(ctx context.Context, tenant string, items []*item, ranges []store.Range, due []string, now time.Time) (string, error) {
	in := &planInput{windows: a.cfg.Windows, now: now, known: map[string]*store.Record{}, horizon: a.customerHorizon(tenant), due: due}
	// Customer records come from the cache, else are read up front; the
	// script checks their versions either way.
	cached, missing := a.customers.get(tenant, append(historyCustomers(items), due...))
	in.customers = cached
	if len(missing) > 0 {
		read, err := a.store.Customers(ctx, tenant, missing)
		if err != nil {
			return "", err
		}
		fetched := make(map[string]*store.CustomerRecord, len(missing))
		for _, id := range missing {
			fetched[id] = read[id]
		}
		maps.Copy(in.customers, a.customers.putRecords(tenant, fetched))
	}
	for attempt := 0; attempt < 20; attempt++ {
		if len(ranges) == 0 && len(due) == 0 {
			return "", nil
		}
		p, err := makePlan(in, items)
		if err != nil {
			return "", err
		}
		p.slice.Tenant, p.slice.Ranges, p.slice.Now = tenant, ranges, now
		res, err := a.store.Apply(ctx, &p.slice)
		if err != nil {
			return "", err
		}
		switch res.Outcome {
		case store.Applied:
			a.customers.put(tenant, p.known)
			if err := a.store.WriteViews(ctx, tenant, now, res.Views); err != nil {
				return "", err
			}
			a.metrics.applied.Add(float64(p.applied))
			a.metrics.revisions.Add(float64(p.revisions))
			a.metrics.duplicates.Add(float64(p.dups))
			for _, l := range p.slice.Letters {
				a.metrics.deadLetters.WithLabelValues(l.Reason).Inc()
			}
			return "", nil
		case store.Fenced:
			return res.Partition, nil
		case store.Skipped:
			// Replayed ranges need not have the old bounds: keep what lies
			// at or above each partition's watermark.
			kept := items[:0:0]
			for _, it := range items {
				if wm, ok := res.Watermarks[it.partition]; !ok || it.msg.Offset >= wm {
					kept = append(kept, it)
				}
			}
			items = kept
			var left []store.Range
			for _, r := range ranges {
				if wm, ok := res.Watermarks[r.Partition]; ok {
					r.Start = max(r.Start, wm)
				}
				if r.Start < r.End {
					left = append(left, r)
				}
			}
			ranges = left
		case store.Conflict:
			maps.Copy(in.known, res.Conflicts)
			maps.Copy(in.customers, a.customers.putRecords(tenant, res.CustomerConflicts))
		}
	}
	return "", fmt.Errorf("slice of tenant %s did not settle", tenant)
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
