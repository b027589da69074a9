package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store/query"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// annotate describes a firing alert (docs/alerts.md): the guard window's
// counts and bounds, the baseline, NPS, the terms that drive the spike and
// up to three recent detractor comments.
func (p *Publisher) annotate(ctx context.Context, tenant, scope string, d alerts.Decision, sc *query.ScopeCounters,
	horizon time.Duration, now time.Time) (map[string]string, error) {
	pct := func(x float64) string { return strconv.FormatFloat(100*x, 'f', 1, 64) }
	g := d.Guard
	c, err := sc.Total(g.Name)
	if err != nil {
		return nil, err
	}
	n := c[stats.NPSResponses]
	out := map[string]string{
		"window":          g.Name,
		"n_responses":     strconv.FormatInt(g.N, 10),
		"n_detractors":    strconv.FormatInt(g.D, 10),
		"detractor_share": pct(g.Share()),
		"baseline_share":  pct(d.P0),
		"wilson_low":      pct(d.WilsonLow),
		"wilson_high":     pct(d.WilsonHigh),
	}
	if n > 0 {
		out["nps"] = strconv.FormatFloat(stats.NPS(c[stats.NPSPromoters], c[stats.NPSDetractors], n), 'f', 1, 64)
		out["nps_moe"] = strconv.FormatFloat(stats.NPSMoE95(c[stats.NPSPromoters], c[stats.NPSDetractors], n), 'f', 1, 64)
	}
	// Themes: the detractor comments of the detection horizon against the
	// scope's earlier ones, with all the tenant's NPS comments as the prior.
	hour, day := time.Hour.Milliseconds(), (24 * time.Hour).Milliseconds()
	nowH, nowD := now.UnixMilli()/hour, now.UnixMilli()/day
	var spikeB, baseB, tenantB []string
	for b := nowH - int64(horizon/time.Hour) + 1; b <= nowH; b++ {
		spikeB = append(spikeB, "h"+strconv.FormatInt(b, 10))
	}
	startD := now.Add(-horizon).UnixMilli() / day
	for b := nowD - themeBaselineDays; b <= nowD; b++ {
		if b < startD {
			baseB = append(baseB, "d"+strconv.FormatInt(b, 10))
		}
		tenantB = append(tenantB, "d"+strconv.FormatInt(b, 10))
	}
	spike, _, err := p.store.TermCounts(ctx, tenant, scope, spikeB)
	if err != nil {
		return nil, err
	}
	base, _, err := p.store.TermCounts(ctx, tenant, scope, baseB)
	if err != nil {
		return nil, err
	}
	prior, err := p.store.TenantTerms(ctx, tenant, tenantB)
	if err != nil {
		return nil, err
	}
	// Without terms the annotation is left out (never "null"): receivers
	// read a missing annotation as none.
	terms := alerts.TopTerms(spike, base, prior, topTerms)
	if len(terms) > 0 {
		tb, err := json.Marshal(terms)
		if err != nil {
			return nil, fmt.Errorf("encoding top terms: %w", err)
		}
		out["top_terms"] = string(tb)
	}
	samples, err := p.store.Samples(ctx, tenant, scope)
	if err != nil {
		return nil, err
	}
	k := 0
	for _, smp := range samples {
		if smp.At >= now.Add(-horizon).UnixMilli() {
			k++
			out["comment_"+strconv.Itoa(k)] = smp.Text
		}
	}
	out["summary"] = fmt.Sprintf("Detractor share at %s of %s is %s%% over %s, baseline %s%%%s",
		scope, tenant, out["detractor_share"], g.Name, out["baseline_share"], alerts.Mentions(terms))
	budget := ""
	if d.Budget > 0 {
		budget = fmt.Sprintf(" (%.2f of it the tenant's false-alarm budget, shared by its %d scopes)", d.Budget, d.Scopes)
	}
	out["description"] = fmt.Sprintf("%d of %d NPS responses in the last %s are detractors (95%% Wilson %s–%s%%) against a baseline of %s%%. "+
		"Over the last %s the CUSUM statistics are %.2f (warning) and %.2f (critical) against a threshold of %.2f%s at %.1f responses a day.",
		g.D, g.N, g.Name, out["wilson_low"], out["wilson_high"], out["baseline_share"], window.FormatDuration(horizon),
		d.SWarning, d.SCritical, d.H, budget, d.R)
	return out, nil
}
