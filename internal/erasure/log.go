package erasure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/cxpulse/cxpulse/internal/kafkaconn"
	"github.com/cxpulse/cxpulse/internal/store/keys"
)

// TopicSuffix names the compacted topic of erasures under the topic
// prefix (cx.erasures).
const TopicSuffix = "erasures"

// Log is the compacted topic of erasures: one record per erased customer,
// keyed by the keyed hash of tenant and customer, holding the tenant, the
// hash and the receipt (never the plain id). It outlives Redis: an
// aggregator restores the erasures Redis lacks from it before it applies
// anything.
type Log struct {
	Kafka  *kafkaconn.Config
	Topic  string
	Writer *kafka.Writer
}

// entry is one record of the log.
type entry struct {
	Tenant       string          `json:"tenant"`
	CustomerHash string          `json:"customer_hash"`
	Receipt      json.RawMessage `json:"receipt"`
}

// Ensure creates the topic, compacted, when it does not exist.
func (l *Log) Ensure(ctx context.Context) error {
	res, err := l.Kafka.Client(10*time.Second).CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: l.Topic, NumPartitions: 1, ReplicationFactor: -1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}},
	}}})
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", l.Topic, err)
	}
	if err := res.Errors[l.Topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %s: %w", l.Topic, err)
	}
	return nil
}

// Record writes an erasure to the log.
func (l *Log) Record(ctx context.Context, tenant, field, receipt string) error {
	v, err := json.Marshal(entry{Tenant: tenant, CustomerHash: field, Receipt: json.RawMessage(receipt)})
	if err != nil {
		return fmt.Errorf("encoding an erasure record: %w", err)
	}
	if err := l.Writer.WriteMessages(ctx, kafka.Message{Topic: l.Topic, Key: []byte(field), Value: v}); err != nil {
		return fmt.Errorf("recording an erasure on %s: %w", l.Topic, err)
	}
	return nil
}

// Restore reads the whole log and adds to Redis every erasure it lacks
// (after Redis lost its state), returning how many it added.
func (l *Log) Restore(ctx context.Context, rdb redis.UniversalClient) (int, error) {
	added := 0
	err := l.Kafka.ReadAll(ctx, l.Topic, true, func(m *kafka.Message) error {
		if len(m.Value) == 0 {
			return nil // a tombstone
		}
		var e entry
		if err := json.Unmarshal(m.Value, &e); err != nil || e.Tenant == "" || e.CustomerHash == "" {
			return fmt.Errorf("%s/%d/%d is not an erasure record: %q", m.Topic, m.Partition, m.Offset, m.Value)
		}
		ok, err := rdb.HSetNX(ctx, keys.Erased(e.Tenant), e.CustomerHash, string(e.Receipt)).Result()
		if err != nil {
			return fmt.Errorf("restoring an erasure of tenant %s: %w", e.Tenant, err)
		}
		if ok {
			added++
		}
		return nil
	})
	return added, err
}
