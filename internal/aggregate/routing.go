package aggregate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/pace"
	"github.com/cxpulse/cxpulse/internal/pipeline"
	"github.com/cxpulse/cxpulse/internal/router"
)

// Routing by tenant (CXPULSE_ROUTE_BY_TENANT, docs/scaling.md): every
// instance runs the router, which forwards the input topics to the
// tenant-keyed topic, and the pipeline consumes that topic, so each
// tenant's events are applied by the one instance holding its partition.

// routerBatch and routerLinger bound what the router forwards at once.
const (
	routerBatch  = 1000
	routerLinger = 20 * time.Millisecond
)

// consumed returns the topics the pipeline consumes.
func (c *Config) consumed() []string {
	if c.RouteByTenant {
		return []string{router.Topic(c.TopicPrefix)}
	}
	return pipeline.InputTopics(c.TopicPrefix)
}

// routerGroup is the consumer group of the routers, "" when not routing.
func (c *Config) routerGroup() string {
	if !c.RouteByTenant {
		return ""
	}
	return c.GroupID + "-router"
}

// ensureRouted creates the tenant-keyed topic when routing and it is
// missing: as many partitions as the input topic with most, and their
// replication factor.
func (a *Aggregator) ensureRouted(ctx context.Context) error {
	if !a.cfg.RouteByTenant {
		return nil
	}
	topic := router.Topic(a.cfg.TopicPrefix)
	meta, err := a.admin.Metadata(ctx, &kafka.MetadataRequest{Topics: append(pipeline.InputTopics(a.cfg.TopicPrefix), topic)})
	if err != nil {
		return fmt.Errorf("reading the metadata of the input topics: %w", err)
	}
	partitions, replicas := 0, 1
	for _, t := range meta.Topics {
		if t.Name == topic && t.Error == nil && len(t.Partitions) > 0 {
			return nil
		}
		if t.Name != topic && t.Error == nil && len(t.Partitions) > partitions {
			partitions, replicas = len(t.Partitions), max(1, len(t.Partitions[0].Replicas))
		}
	}
	if partitions == 0 {
		return fmt.Errorf("routing by tenant: no input topic found to size %s by", topic)
	}
	res, err := a.admin.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: topic, NumPartitions: partitions, ReplicationFactor: replicas}}})
	if err != nil {
		return fmt.Errorf("creating %s: %w", topic, err)
	}
	if err := res.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("creating %s: %w", topic, err)
	}
	a.log.Info("created the tenant-keyed topic", zap.String("topic", topic), zap.Int("partitions", partitions))
	return nil
}

// runRouter forwards the input topics until ctx ends, starting again
// (after a backoff) when the brokers fail it.
func (a *Aggregator) runRouter(ctx context.Context) error {
	for n := 0; ctx.Err() == nil; n++ {
		r := a.cfg.Kafka.Reader(kafka.ReaderConfig{GroupID: a.cfg.routerGroup(), GroupTopics: pipeline.InputTopics(a.cfg.TopicPrefix),
			StartOffset: kafka.FirstOffset, MaxWait: 250 * time.Millisecond, SessionTimeout: pipeline.SessionTimeout,
			HeartbeatInterval: time.Second, JoinGroupBackoff: 500 * time.Millisecond})
		w := a.cfg.Kafka.Writer()
		guard := newRouterGuard(a.admin, a.cfg.routerGroup())
		rctx, stop := context.WithCancel(ctx)
		var watched *router.HaltError
		var mu sync.Mutex
		go guard.watch(rctx, pipeline.InputTopics(a.cfg.TopicPrefix), func(partition, reason string) {
			mu.Lock()
			watched = &router.HaltError{Partition: partition, Reason: reason}
			mu.Unlock()
			stop()
		})
		err := router.New(r, w, a.cfg.TopicPrefix, routerBatch, routerLinger).Guard(guard.check).Run(rctx)
		stop()
		closeErr := errors.Join(r.Close(), w.Close())
		if ctx.Err() != nil {
			return nil
		}
		mu.Lock()
		if watched != nil {
			err = watched
		}
		mu.Unlock()
		var halt *router.HaltError
		if errors.As(err, &halt) {
			// Forwarding on would skip or replay messages silently: the
			// partition halts, loudly, for an operator (docs/operations.md).
			a.pipeline.HaltInput(halt.Partition, halt.Reason)
			a.log.Error("partition halted", zap.String("partition", halt.Partition), zap.String("stage", "routing"), zap.String("reason", halt.Reason))
			return nil
		}
		a.log.Warn("routing by tenant", zap.NamedError("error", err), zap.NamedError("closing", closeErr))
		if !pace.Wait(ctx, n) {
			return nil
		}
	}
	return nil
}
