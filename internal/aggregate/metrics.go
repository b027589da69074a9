package aggregate

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type metrics struct {
	registry      *prometheus.Registry
	consumed      *prometheus.CounterVec
	applied       prometheus.Counter
	duplicates    prometheus.Counter
	revisions     prometheus.Counter
	deadLetters   *prometheus.CounterVec
	unknownFields prometheus.Counter
	batchSize     prometheus.Histogram
	applySeconds  prometheus.Histogram
	swept         prometheus.Counter
	// customersSwept counts customers looked at again with no new event.
	customersSwept prometheus.Counter
	alertSends     *prometheus.CounterVec
	published      prometheus.Counter
	halted         *prometheus.GaugeVec
	lag            prometheus.Gauge
}

func newMetrics(_ *Aggregator) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxpulse_events_consumed_total", Help: "Input messages processed and acknowledged, by topic.",
		}, []string{"topic"}),
		applied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxpulse_events_applied_total", Help: "New events counted into the windows.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxpulse_duplicates_dropped_total", Help: "Repeats of a remembered id with the same or a lower revision.",
		}),
		revisions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxpulse_revisions_applied_total", Help: "Higher revisions that replaced an earlier version.",
		}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxpulse_dead_letters_total", Help: "Messages dead-lettered, by reason code.",
		}, []string{"reason"}),
		unknownFields: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxpulse_unknown_fields_total", Help: "Fields ignored because this version does not know them.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cxpulse_batch_size", Help: "Messages per fetched batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 7),
		}),
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cxpulse_batch_apply_seconds", Help: "Time to apply one fetched batch, dead letters and resume offset included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		swept: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxpulse_buckets_expired_total", Help: "Buckets dropped from their window by the sweeper.",
		}),
		customersSwept: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxpulse_customers_swept_total", Help: "Customers looked at again with no new event (inactivity losses, history forgotten).",
		}),
		alertSends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxpulse_alert_notifications_total", Help: "Alert notifications by sink (kafka: cx.alerts) and outcome (kafka: the status sent).",
		}, []string{"sink", "outcome"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxpulse_scores_published_total", Help: "Score snapshots written to cx.scores.",
		}),
		halted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cxpulse_partition_halted", Help: "1 for a partition halted because its resume offset was deleted by retention.",
		}, []string{"partition"}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cxpulse_lag", Help: "Messages produced but not yet applied, over every input partition (as of the last /v1/status).",
		}),
	}
	m.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.consumed, m.applied, m.duplicates, m.revisions, m.deadLetters, m.unknownFields, m.batchSize,
		m.applySeconds, m.swept, m.customersSwept, m.alertSends, m.published, m.halted, m.lag)
	return m
}
