package pipeline

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	consumed      *prometheus.CounterVec
	applied       prometheus.Counter
	duplicates    prometheus.Counter
	revisions     prometheus.Counter
	deadLetters   *prometheus.CounterVec
	unknownFields prometheus.Counter
	batchSize     prometheus.Histogram
	applySeconds  prometheus.Histogram
	halted        *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
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
		halted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cxpulse_partition_halted", Help: "1 for a partition halted because its resume offset was deleted by retention.",
		}, []string{"partition"}),
	}
	reg.MustRegister(m.consumed, m.applied, m.duplicates, m.revisions, m.deadLetters, m.unknownFields,
		m.batchSize, m.applySeconds, m.halted)
	return m
}
