// Package router is the first stage of routing each tenant's events to a
// single writer: it reads the input topics as a consumer group and
// forwards every record, bytes unchanged, to the internal topic
// `<prefix>by-tenant`, keyed by its tenant (so all of a tenant's events,
// whatever topic and partition they came in on, land in one partition of
// it, as Kafka Streams repartitions), with the record's source topic,
// partition and offset in headers. It commits the input offsets only once
// the internal topic acknowledged the batch: a crash in between forwards
// the batch again (at least once), and the second stage drops what it
// applied already by the source position and the event id. A record whose
// tenant cannot be read is forwarded too, keyed by nothing, so that the
// second stage dead-letters it with its source position.
package router

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/valyala/fastjson"
)

// Topic is the internal topic of prefix.
func Topic(prefix string) string { return prefix + "by-tenant" }

// The headers a forwarded record carries: where it came from.
const (
	HeaderTopic     = "cx-src-topic"
	HeaderPartition = "cx-src-partition"
	HeaderOffset    = "cx-src-offset"
)

// Source reads the input topics; kafka.Reader (with a GroupID) is one.
type Source interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Sink writes the internal topic; kafka.Writer (with a murmur2 balancer,
// as events.NewWriter sets up) is one.
type Sink interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Router forwards batches from a Source to a Sink.
type Router struct {
	src    Source
	sink   Sink
	topic  string
	batch  int
	linger time.Duration
	// check, when set, judges each fetched batch before it is forwarded:
	// a reason stops the router on that partition (HaltError).
	check Check
}

// Check judges a fetched batch before it is forwarded: a reason halts the
// router on partition (HaltError); an error ends the batch, to be read
// again.
type Check func(ctx context.Context, msgs []kafka.Message) (partition, reason string, err error)

// HaltError stops the router: the input partition's log no longer holds
// what is next (retention deleted it, or the topic was recreated), and
// forwarding on would skip or replay messages silently.
type HaltError struct{ Partition, Reason string }

func (e *HaltError) Error() string { return e.Partition + ": " + e.Reason }

// Guard sets the check each fetched batch passes before it is forwarded.
func (r *Router) Guard(check Check) *Router {
	r.check = check
	return r
}

// New returns a router forwarding to the internal topic of prefix, batch
// records at a time, or what came within linger of a batch's first.
func New(src Source, sink Sink, prefix string, batch int, linger time.Duration) *Router {
	return &Router{src: src, sink: sink, topic: Topic(prefix), batch: batch, linger: linger}
}

// Run forwards until ctx ends or the source or sink fails for good.
func (r *Router) Run(ctx context.Context) error {
	for {
		if _, err := r.Once(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err // a HaltError among them
		}
	}
}

// Once forwards one batch: it waits for a first record, takes what else
// comes within the linger (up to the batch size), writes them and then
// commits them. It returns how many it forwarded.
func (r *Router) Once(ctx context.Context) (int, error) {
	first, err := r.src.FetchMessage(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the input topics: %w", err)
	}
	in := []kafka.Message{first}
	lctx, cancel := context.WithTimeout(ctx, r.linger)
	for len(in) < r.batch {
		m, err := r.src.FetchMessage(lctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				break
			}
			cancel()
			return 0, fmt.Errorf("reading the input topics: %w", err)
		}
		in = append(in, m)
	}
	cancel()
	if r.check != nil {
		part, reason, err := r.check(ctx, in)
		switch {
		case err != nil:
			return 0, fmt.Errorf("checking the fetched offsets: %w", err)
		case reason != "":
			return 0, &HaltError{Partition: part, Reason: reason}
		}
	}
	out := make([]kafka.Message, len(in))
	for i, m := range in {
		out[i] = r.forward(m)
	}
	if err := r.sink.WriteMessages(ctx, out...); err != nil {
		return 0, fmt.Errorf("forwarding %d records to %s: %w", len(out), r.topic, err)
	}
	if err := r.src.CommitMessages(ctx, in...); err != nil {
		return 0, fmt.Errorf("committing %d forwarded records: %w", len(in), err)
	}
	return len(in), nil
}

// forward is the internal topic's record of m: its headers (a replay's
// mark among them) then the source position, in place of any the record
// claimed itself.
func (r *Router) forward(m kafka.Message) kafka.Message {
	hs := make([]kafka.Header, 0, len(m.Headers)+3)
	for _, h := range m.Headers {
		if h.Key != HeaderTopic && h.Key != HeaderPartition && h.Key != HeaderOffset {
			hs = append(hs, h)
		}
	}
	hs = append(hs,
		kafka.Header{Key: HeaderTopic, Value: []byte(m.Topic)},
		kafka.Header{Key: HeaderPartition, Value: strconv.AppendInt(nil, int64(m.Partition), 10)},
		kafka.Header{Key: HeaderOffset, Value: strconv.AppendInt(nil, m.Offset, 10)})
	// The source's timestamp stays: how far back the tenant-keyed log
	// reaches is read from its oldest record's time (a rebuild's check).
	return kafka.Message{Topic: r.topic, Key: []byte(TenantOf(m.Value)), Value: m.Value, Headers: hs, Time: m.Time}
}

// TenantOf reads the tenant of an event's JSON, "" when it has none
// readable (the second stage names what is wrong with it).
func TenantOf(value []byte) string {
	v, err := fastjson.ParseBytes(value)
	if err != nil {
		return ""
	}
	return string(v.GetStringBytes("tenant"))
}

// Source names where a forwarded record came from, from its headers; ok
// is false when they are missing or malformed.
func SourceOf(m kafka.Message) (topic string, partition int, offset int64, ok bool) {
	var p, o string
	for _, h := range m.Headers {
		switch h.Key {
		case HeaderTopic:
			topic = string(h.Value)
		case HeaderPartition:
			p = string(h.Value)
		case HeaderOffset:
			o = string(h.Value)
		}
	}
	pn, err1 := strconv.Atoi(p)
	on, err2 := strconv.ParseInt(o, 10, 64)
	if topic == "" || err1 != nil || err2 != nil {
		return "", 0, 0, false
	}
	return topic, pn, on, true
}
