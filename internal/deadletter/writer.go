package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/segmentio/kafka-go"

	"github.com/cxpulse/cxpulse/internal/outbox"
	"github.com/cxpulse/cxpulse/internal/store"
)

const (
	// outboxBatch bounds the dead letters published from an outbox at once.
	outboxBatch = 500
	// maxLetterBytes bounds a dead letter's key, value and headers: below
	// the brokers' default message.max.bytes (about 1 MiB) and the writer's
	// batch size, so a message as large as the broker takes can still be
	// dead-lettered.
	maxLetterBytes = 512 << 10
	// cutLetterBytes is what a letter is cut to when the topic refuses even
	// maxLetterBytes.
	cutLetterBytes = 16 << 10
	// maxDetailBytes bounds the cxpulse-detail header.
	maxDetailBytes = 4 << 10
)

// PermanentError is a dead-letter write that cannot succeed by retrying
// (a refused authorization, an invalid topic, …): the partitions whose
// letters it held are halted, loudly.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string {
	return "writing dead letters failed for good: " + e.Err.Error()
}

func (e *PermanentError) Unwrap() error { return e.Err }

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
// is acknowledged before its dead letter is written. A letter larger than
// maxLetterBytes is written truncated, with headers cxpulse-truncated and
// cxpulse-original-size (its source offset is in cxpulse-source); if the
// topic refuses that too, every letter of the write is cut to
// cutLetterBytes and written again. A retried write may repeat a letter;
// cxpulse-source identifies it. An error that retrying cannot mend is a
// *PermanentError.
func (w *Writer) Write(ctx context.Context, letters []store.Letter) error {
	if len(letters) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(letters))
	for i := range letters {
		msgs[i] = w.message(&letters[i], maxLetterBytes)
	}
	err := w.w.WriteMessages(ctx, msgs...)
	if tooLarge(err) {
		for i := range letters {
			msgs[i] = w.message(&letters[i], cutLetterBytes)
		}
		err = w.w.WriteMessages(ctx, msgs...)
	}
	if err == nil {
		return nil
	}
	err = fmt.Errorf("writing %d dead letters to %s: %w", len(msgs), w.topic, err)
	if permanent(err) {
		return &PermanentError{Err: err}
	}
	return err
}

// message returns the message of a dead letter whose key, value and
// headers take at most limit bytes, its value truncated when needed.
func (w *Writer) message(l *store.Letter, limit int) kafka.Message {
	detail := l.Detail
	if len(detail) > maxDetailBytes {
		detail = detail[:maxDetailBytes] + "…"
	}
	headers := []kafka.Header{
		{Key: "cxpulse-error", Value: []byte(l.Reason)},
		{Key: "cxpulse-detail", Value: []byte(detail)},
		{Key: "cxpulse-source", Value: []byte(l.Source)},
	}
	if l.ReplayOf != "" {
		headers = append(headers, kafka.Header{Key: HeaderReplayOf, Value: []byte(l.ReplayOf)})
	}
	size := len(l.Key)
	for _, h := range headers {
		size += len(h.Key) + len(h.Value)
	}
	value := l.Value
	if size+len(value) > limit {
		headers = append(headers, kafka.Header{Key: "cxpulse-truncated", Value: []byte("true")},
			kafka.Header{Key: "cxpulse-original-size", Value: []byte(strconv.Itoa(len(value)))})
		keep := max(0, limit-size-64) // room for the two headers above
		value = value[:min(keep, len(value))]
	}
	return kafka.Message{Topic: w.topic, Key: l.Key, Value: value, Headers: headers}
}

// tooLarge reports whether a write failed because a message was too large
// for the writer or the topic.
func tooLarge(err error) bool {
	if errors.Is(err, kafka.MessageSizeTooLarge) {
		return true
	}
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		for _, e := range werrs {
			if errors.Is(e, kafka.MessageSizeTooLarge) {
				return true
			}
		}
	}
	return false
}

// permanent reports whether a write failed with a Kafka error that
// retrying cannot mend.
func permanent(err error) bool {
	check := func(e error) bool {
		var kerr kafka.Error
		return errors.As(e, &kerr) && !kerr.Temporary()
	}
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		for _, e := range werrs {
			if e != nil && check(e) {
				return true
			}
		}
		return false
	}
	return check(err)
}

// PublishOutbox writes the dead letters queued in a tenant's outbox (those
// whose reason depended on stored state, queued atomically with their
// slice) and removes them once written, never an entry it did not write.
func (w *Writer) PublishOutbox(ctx context.Context, ob *outbox.Outbox, tenant string) error {
	for {
		letters, head, err := ob.Letters(ctx, tenant, outboxBatch)
		if err != nil || len(letters) == 0 {
			return err
		}
		if err := w.Write(ctx, letters); err != nil {
			return err
		}
		// Only what was read and written is removed: another publisher may
		// have published it too, and removed it first.
		if err := ob.TrimLetters(ctx, tenant, head); err != nil {
			return err
		}
		if len(letters) < outboxBatch {
			return nil
		}
	}
}
