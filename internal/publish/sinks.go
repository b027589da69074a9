package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/pace"
)

// kafkaSink writes notifications to cx.alerts, keyed by fingerprint. It is
// the record of what was sent: the evaluation waits for it before marking
// an alert sent, and hands the same notifications to the other sinks.
type kafkaSink struct {
	w     *kafka.Writer
	topic string
}

// Name implements alerts.Sink.
func (s *kafkaSink) Name() string { return "kafka" }

// Send implements alerts.Sink.
func (s *kafkaSink) Send(ctx context.Context, ns []alerts.Notification) error {
	msgs := make([]kafka.Message, len(ns))
	for i, n := range ns {
		b, err := json.Marshal(n)
		if err != nil {
			return fmt.Errorf("encoding alert %s: %w", n.Fingerprint, err)
		}
		msgs[i] = kafka.Message{Topic: s.topic, Key: []byte(n.Fingerprint), Value: b}
	}
	if err := s.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("writing %d alerts to %s: %w", len(msgs), s.topic, err)
	}
	return nil
}

// newSinks builds the configured HTTP sinks; each is fed from the
// durable queues by deliverLoop.
func newSinks(cfg Config) []alerts.Sink {
	client := &http.Client{Timeout: 10 * time.Second}
	var sinks []alerts.Sink
	if cfg.AlertmanagerURL != "" {
		sinks = append(sinks, &alerts.Alertmanager{URL: cfg.AlertmanagerURL, Client: client})
	}
	if cfg.AlertWebhookURL != "" {
		sinks = append(sinks, &alerts.Webhook{URL: cfg.AlertWebhookURL, ExternalURL: cfg.ExternalURL, Secret: cfg.AlertWebhookSecret, Client: client})
	}
	if cfg.PagerDutyRoutingKey != "" {
		sinks = append(sinks, &alerts.PagerDuty{URL: cfg.PagerDutyURL, RoutingKey: cfg.PagerDutyRoutingKey, Client: client})
	}
	return sinks
}

// deliverEvery is how often an idle sink's queues are looked at; a
// delivery goes on at once while notifications wait.
const deliverEvery = 200 * time.Millisecond

// deliverBatch bounds the notifications sent to a sink at once.
const deliverBatch = 100

// deliverLoop hands one sink, while this instance holds the publisher
// lease, the notifications queued durably in Redis for it, tenant by
// tenant, oldest first, until ctx ends. A batch leaves its queue once the
// sink took it, or once the sink refused it for good (logged and counted);
// a failure that may pass is retried with backoff, and what waits survives
// a restart. Each sink has a loop of its own, so a failing sink never holds
// up another.
func (p *Publisher) deliverLoop(ctx context.Context, s alerts.Sink) {
	log := p.log.With(zap.String("sink", s.Name()))
	pace.Every(ctx, deliverEvery, func() bool {
		if p.epoch.Load() == 0 {
			return true // another instance publishes
		}
		tenants, err := p.store.Tenants(ctx)
		if err != nil {
			log.Warn("listing tenants to deliver alerts", zap.Error(err))
			return true
		}
		for _, tenant := range tenants {
			if err := p.deliverTenant(ctx, log, s, tenant); err != nil && ctx.Err() == nil {
				log.Warn("delivering alerts", zap.String("tenant", tenant), zap.Error(err))
			}
		}
		return true
	})
}

// deliverTenant delivers what waits in one tenant's queue for s.
func (p *Publisher) deliverTenant(ctx context.Context, log *zap.Logger, s alerts.Sink, tenant string) error {
	for ctx.Err() == nil && p.epoch.Load() != 0 {
		raw, head, err := p.outbox.SinkQueue(ctx, tenant, s.Name(), deliverBatch)
		if err != nil || len(raw) == 0 {
			return err
		}
		ns := make([]alerts.Notification, 0, len(raw))
		for _, r := range raw {
			var n alerts.Notification
			if err := json.Unmarshal([]byte(r), &n); err != nil {
				log.Error("dropping an unreadable queued notification", zap.String("tenant", tenant), zap.Error(err))
				continue
			}
			ns = append(ns, n)
		}
		err = p.retry.Deliver(ctx, log, s, ns, func(err error) {
			outcome := "ok"
			if err != nil {
				outcome = "failed"
			}
			p.metrics.alertSends.WithLabelValues(s.Name(), outcome).Inc()
		})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			log.Error("alert sink gave up on a batch", zap.String("tenant", tenant), zap.Int("alerts", len(ns)), zap.Error(err))
			p.metrics.alertsGivenUp.WithLabelValues(s.Name()).Add(float64(len(ns)))
		}
		if err := p.outbox.TrimSinkQueue(ctx, tenant, s.Name(), head); err != nil {
			return err
		}
	}
	return nil
}
