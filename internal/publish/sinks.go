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

// newDispatcher builds the configured alert sinks.
func newDispatcher(cfg Config, log *zap.Logger, m *metrics) *alerts.Dispatcher {
	client := &http.Client{Timeout: 10 * time.Second}
	var sinks []alerts.Sink
	if cfg.AlertmanagerURL != "" {
		sinks = append(sinks, &alerts.Alertmanager{URL: cfg.AlertmanagerURL, Client: client})
	}
	if cfg.AlertWebhookURL != "" {
		sinks = append(sinks, &alerts.Webhook{URL: cfg.AlertWebhookURL, ExternalURL: cfg.ExternalURL, Client: client})
	}
	if cfg.PagerDutyRoutingKey != "" {
		sinks = append(sinks, &alerts.PagerDuty{URL: cfg.PagerDutyURL, RoutingKey: cfg.PagerDutyRoutingKey, Client: client})
	}
	d := alerts.NewDispatcher(log.With(zap.String("component", "alert-sinks")), sinks...)
	d.OnResult = func(sink string, err error) {
		outcome := "ok"
		if err != nil {
			outcome = "failed"
		}
		m.alertSends.WithLabelValues(sink, outcome).Inc()
	}
	return d
}
