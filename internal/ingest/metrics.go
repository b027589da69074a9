package ingest

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	accepted *prometheus.CounterVec
	rejected *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxpulse_ingest_events_accepted_total",
			Help: "Events written to Kafka and acknowledged, by topic.",
		}, []string{"topic"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxpulse_ingest_requests_rejected_total",
			Help: "Requests refused, by reason (unauthorized, forbidden_scope, forbidden_tenant, too_large, too_many_events, malformed, invalid, rate_limited, kafka_unavailable).",
		}, []string{"reason"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxpulse_ingest_events_rejected_total",
			Help: "Events refused from requests with ?partial=true whose other events went on, by reason (invalid).",
		}, []string{"reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxpulse_ingest_requests_total",
			Help: "Requests to POST /v1/events, by HTTP status code.",
		}, []string{"code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cxpulse_ingest_request_duration_seconds",
			Help:    "Time to answer POST /v1/events, including the Kafka write.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"code"}),
	}
	reg.MustRegister(m.accepted, m.rejected, m.dropped, m.requests, m.duration)
	return m
}

func (m *metrics) reject(reason string) { m.rejected.WithLabelValues(reason).Inc() }

// rejectN counts n events refused from a partly accepted request.
func (m *metrics) rejectN(reason string, n int) { m.dropped.WithLabelValues(reason).Add(float64(n)) }

func (m *metrics) instrument(next http.Handler) http.Handler {
	return promhttp.InstrumentHandlerDuration(m.duration, promhttp.InstrumentHandlerCounter(m.requests, next))
}
