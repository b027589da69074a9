package kafkaconn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// endWait is how long a read waits for a next message before taking the
// partition as read to its end.
const endWait = 10 * time.Second

// ReadAll reads every partition of topic from its log start to the high
// watermark it has when the read begins, calling each for every message in
// offset order per partition. A topic that does not exist has nothing to
// read when missingOK.
func (c *Config) ReadAll(ctx context.Context, topic string, missingOK bool, each func(*kafka.Message) error) error {
	admin := c.Client(10 * time.Second)
	meta, err := admin.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return fmt.Errorf("reading metadata of %s: %w", topic, err)
	}
	var req []kafka.OffsetRequest
	for _, t := range meta.Topics {
		if missingOK && errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			return nil
		}
		if t.Error != nil {
			return fmt.Errorf("topic %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			req = append(req, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	if len(req) == 0 {
		return nil
	}
	offs, err := admin.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: req}})
	if err != nil {
		return fmt.Errorf("listing the offsets of %s: %w", topic, err)
	}
	for _, p := range offs.Topics[topic] {
		if p.Error != nil {
			return fmt.Errorf("offsets of %s/%d: %w", topic, p.Partition, p.Error)
		}
		if err := c.readPartition(ctx, topic, p.Partition, p.FirstOffset, p.LastOffset, each); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) readPartition(ctx context.Context, topic string, partition int, first, end int64, each func(*kafka.Message) error) error {
	if first >= end {
		return nil
	}
	r := c.Reader(kafka.ReaderConfig{Topic: topic, Partition: partition, MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 250 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		return fmt.Errorf("seeking %s/%d: %w", topic, partition, err)
	}
	for {
		// The last offsets may hold no message (a transaction marker, a
		// compacted gap): a read that waits that long has reached the end.
		rctx, cancel := context.WithTimeout(ctx, endWait)
		m, err := r.ReadMessage(rctx)
		cancel()
		if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s/%d: %w", topic, partition, err)
		}
		if err := each(&m); err != nil {
			return err
		}
		if m.Offset+1 >= end {
			return nil
		}
	}
}
