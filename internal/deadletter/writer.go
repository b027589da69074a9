package deadletter

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"

	"github.com/cxpulse/cxpulse/internal/store"
)

// outboxBatch bounds the dead letters published from an outbox at once.
const outboxBatch = 500

// Writer writes dead letters to the dead-letter topic.
type Writer struct {
	w     *kafka.Writer
	topic string
}

// NewWriter returns a Writer to prefix + "deadletter" through w.
func NewWriter(w *kafka.Writer, prefix string) *Writer {
	return &Writer{w: w, topic: prefix + "deadletter"}
}

// Write writes letters and waits for the acknowledgement, so that nothing
// is acknowledged before its dead letter is written. A retried write may
// repeat a letter; cxpulse-source identifies it.
func (w *Writer) Write(ctx context.Context, letters []store.Letter) error {
	if len(letters) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(letters))
	for i, l := range letters {
		msgs[i] = kafka.Message{Topic: w.topic, Key: l.Key, Value: l.Value, Headers: []kafka.Header{
			{Key: "cxpulse-error", Value: []byte(l.Reason)},
			{Key: "cxpulse-detail", Value: []byte(l.Detail)},
			{Key: "cxpulse-source", Value: []byte(l.Source)},
		}}
	}
	if err := w.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("writing %d dead letters to %s: %w", len(msgs), w.topic, err)
	}
	return nil
}

// PublishOutbox writes the dead letters queued in a tenant's outbox (those
// whose reason depended on stored state, queued atomically with their
// slice) and removes them once written.
func (w *Writer) PublishOutbox(ctx context.Context, st *store.Store, tenant string) error {
	for {
		letters, err := st.Outbox(ctx, tenant, outboxBatch)
		if err != nil || len(letters) == 0 {
			return err
		}
		if err := w.Write(ctx, letters); err != nil {
			return err
		}
		if err := st.TrimOutbox(ctx, tenant, len(letters)); err != nil {
			return err
		}
		if len(letters) < outboxBatch {
			return nil
		}
	}
}
