package api

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cxpulse/cxpulse/pkg/scores"
)

// ScoreGaugeStats are the stats the score gauges export, per tenant and
// window, for scope all only.
var ScoreGaugeStats = []string{"nps", "nps_responses", "detractor_share", "csat", "ces", "ticket_first_response_avg_s", "churn_rate", "atv"}

// scoreGauges exports cxpulse_score{tenant,window,stat} from the views of
// scope all, read when Prometheus scrapes: at most maxTenants tenants (in
// name order), so at most maxTenants × windows × len(ScoreGaugeStats)
// series.
type scoreGauges struct {
	s          *Server
	maxTenants int
	desc       *prometheus.Desc
}

func (g *scoreGauges) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *scoreGauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tenants, err := g.s.store.Tenants(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(g.desc, err)
		return
	}
	slices.Sort(tenants)
	for _, t := range tenants[:min(len(tenants), g.maxTenants)] {
		view, err := g.s.store.View(ctx, t, "all")
		if err != nil {
			ch <- prometheus.NewInvalidMetric(g.desc, err)
			return
		}
		sc := scores.FromHash(t, "all", view)
		for _, w := range g.s.cfg.Windows {
			for _, stat := range ScoreGaugeStats {
				if v, ok := sc.Windows[w.Name][stat]; ok {
					ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v, t, w.Name, stat)
				}
			}
		}
	}
}

// registerScoreGauges adds the score gauges to reg.
func (s *Server) registerScoreGauges(reg prometheus.Registerer, maxTenants int) {
	reg.MustRegister(&scoreGauges{s: s, maxTenants: maxTenants, desc: prometheus.NewDesc("cxpulse_score",
		"A stat of scope all of a tenant's window, as the view holds it (CXPULSE_SCORE_METRICS; at most "+
			strconv.Itoa(maxTenants)+" tenants, in name order).", []string{"tenant", "window", "stat"}, nil)})
}
