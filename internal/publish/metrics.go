package publish

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	swept prometheus.Counter
	// customersSwept counts customers looked at again with no new event.
	customersSwept prometheus.Counter
	alertSends     *prometheus.CounterVec
	published      prometheus.Counter
	// tenantFailures counts the tenants skipped at a stage, per round.
	tenantFailures *prometheus.CounterVec
	alertsGivenUp  *prometheus.CounterVec
	alertsDropped  prometheus.Counter
	// roundTenants is how many tenants a publish round between walks
	// visits.
	roundTenants prometheus.Histogram
	// sweepRoundTenants is how many tenants a sweep round takes.
	sweepRoundTenants prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
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
		tenantFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxpulse_tenant_failures_total", Help: "Tenants skipped in a publishing, sweeping or digest round because their work failed (the reason is in /v1/status).",
		}, []string{"stage"}),
		roundTenants: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cxpulse_publish_round_tenants", Help: "Tenants a publish round between walks of every tenant visits: those changed, with live alerts or failed last round.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		sweepRoundTenants: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cxpulse_sweep_round_tenants", Help: "Tenants a sweep round takes: those whose sweep is due (a bucket leaves a window, a customer is due, a local day or hour begins).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
	}
	m.alertsGivenUp = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cxpulse_alert_notifications_given_up_total", Help: "Alert notifications a sink refused for good, or failed to take after every retry.",
	}, []string{"sink"})
	m.alertsDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cxpulse_alert_notifications_dropped_total", Help: "Alert notifications dropped, oldest first, from a sink queue over its bound (a sink down for long).",
	})
	reg.MustRegister(m.swept, m.customersSwept, m.alertSends, m.published, m.tenantFailures, m.alertsGivenUp, m.alertsDropped, m.roundTenants, m.sweepRoundTenants)
	return m
}
