package pipeline

import (
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/customers"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// item is one valid, counted event of a tenant slice.
type item struct {
	msg       *kafka.Message // in its batch's messages
	partition string         // topic/partition
	ev        events.Event
	scopes    []string
	terms     []string // theme terms of a detractor comment
	timeErr   string   // deadletter.ReasonTooLate or ReasonInFuture when its time is out of bounds
	detail    string
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
	ev, unknown, err := dec.Decode(m.Value)
	if len(unknown) > 0 {
		p.metrics.unknownFields.Add(float64(len(unknown)))
	}
	if letter := p.rules.Check(m, &ev, err); letter != nil {
		return letter
	}
	*it = item{msg: m, ev: ev}
	if s := ev.Survey; s != nil && s.Metric == events.MetricNPS && s.Score <= 6 && s.Comment != "" {
		it.terms = alerts.Terms(s.Comment)
	}
	return nil
}

// checkTime marks an item whose time is out of bounds at now.
func (p *Pipeline) checkTime(it *item, now time.Time) {
	it.timeErr, it.detail = p.rules.CheckTime(&it.ev, now)
}

// historyEntry returns the history entry of a purchase or cancellation.
func historyEntry(it *item) customers.Entry {
	e := customers.Entry{ID: it.ev.ID, At: it.ev.OccurredAt.UnixMilli(), Cancel: it.ev.Type == events.TypeSubscriptionCancelled}
	if !e.Cancel {
		e.Scopes = it.scopes
		if it.ev.Purchase != nil {
			e.Code = it.ev.Purchase.ReferralCode
		}
	}
	return e
}
