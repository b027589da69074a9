package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
)

// WriterOption adjusts a Writer made by NewWriter.
type WriterOption func(*kafka.Writer)

// WithTransport connects the writer through t (for TLS, SASL, a client id
// or other dial settings); by default a plain transport with a 3 s dial
// timeout is used.
func WithTransport(t kafka.RoundTripper) WriterOption {
	return func(w *kafka.Writer) { w.Transport = t }
}

// NewWriter returns a kafka-go Writer set up the way cxpulse expects its
// input written: every write acknowledged by all in-sync replicas, keys
// hashed with murmur2 (the partitioner of the Java client), and a short
// batch timeout so a synchronous write is not held for a second. The topic
// is set per message.
func NewWriter(brokers []string, opts ...WriterOption) *kafka.Writer {
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 2 * time.Millisecond,
		BatchSize:    1000,
		MaxAttempts:  3,
		Transport: &kafka.Transport{
			Dial:        (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
			IdleTimeout: 30 * time.Second,
		},
	}
	for _, o := range opts {
		o(w)
	}
	return w
}

// Producer validates events, routes each to its topic with its key, and
// writes them. It is safe for concurrent use.
type Producer struct {
	w      *kafka.Writer
	prefix string
}

// NewProducer returns a Producer writing through w (see NewWriter) to the
// topics under prefix (DefaultTopicPrefix when empty).
func NewProducer(w *kafka.Writer, prefix string) *Producer {
	if prefix == "" {
		prefix = DefaultTopicPrefix
	}
	return &Producer{w: w, prefix: prefix}
}

// SendError reports, per event of one Send call, why it was not written.
type SendError struct {
	// Errs has one entry per event given to Send: nil when the event was
	// written, else the reason (a *ValidationError or a Kafka error).
	Errs []error
}

func (e *SendError) Error() string {
	n, first := 0, -1
	for i, err := range e.Errs {
		if err != nil {
			n++
			if first < 0 {
				first = i
			}
		}
	}
	return fmt.Sprintf("%d of %d events not written; event %d: %v", n, len(e.Errs), first, e.Errs[first])
}

// Unwrap lets errors.Is and errors.As look at every per-event error.
func (e *SendError) Unwrap() []error {
	var out []error
	for _, err := range e.Errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// Send validates evs and writes the valid ones, returning nil when all were
// written and acknowledged, else a *SendError. A Kafka failure may leave
// part of the events written; sending them again is safe because consumers
// deduplicate by tenant and id.
func (p *Producer) Send(ctx context.Context, evs ...Event) error {
	errs := make([]error, len(evs))
	msgs := make([]kafka.Message, 0, len(evs))
	idx := make([]int, 0, len(evs))
	failed := false
	for i := range evs {
		ev := &evs[i]
		if err := ev.Validate(); err != nil {
			errs[i], failed = err, true
			continue
		}
		value, err := json.Marshal(ev)
		if err != nil {
			errs[i], failed = fmt.Errorf("encoding event %s: %w", ev.ID, err), true
			continue
		}
		msgs = append(msgs, kafka.Message{Topic: ev.Topic(p.prefix), Key: []byte(ev.Key()), Value: value})
		idx = append(idx, i)
	}
	if len(msgs) > 0 {
		if err := p.w.WriteMessages(ctx, msgs...); err != nil {
			failed = true
			var werrs kafka.WriteErrors
			if errors.As(err, &werrs) && len(werrs) == len(msgs) {
				for j, werr := range werrs {
					errs[idx[j]] = werr
				}
			} else {
				for _, i := range idx {
					errs[i] = err
				}
			}
		}
	}
	if failed {
		return &SendError{Errs: errs}
	}
	return nil
}

// Close flushes and closes the underlying writer.
func (p *Producer) Close() error { return p.w.Close() }
