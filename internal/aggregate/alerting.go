package aggregate

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// Detractor-spike alerts (DESIGN §7) are evaluated by the instance holding
// the publisher lease, for the scopes that changed since the last round and
// for those with a live alert, from the summed counts in Redis: a replay or
// a revision recomputes the same answer, and the alert's state (pending
// since, firing since, last above threshold, sent) is kept in Redis so a
// restart picks it up where it was.

const (
	// themeBaselineDays is how many days of detractor comments the themes
	// compare a spike with.
	themeBaselineDays = 30
	// topTerms bounds the terms an alert names.
	topTerms = 10
	// resolvedKept is how long a resolved alert stays listed.
	resolvedKept = 7 * 24 * time.Hour
)

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

// hourlyWindow returns the longest configured window with hourly buckets:
// its buckets are the hours the CUSUM runs over.
func hourlyWindow(cfg Config) (w window.Window, ok bool) {
	for _, win := range cfg.Windows {
		if win.Bucket == time.Hour {
			w, ok = win, true
		}
	}
	return w, ok
}

// alertSettings returns a tenant's detection parameters, lifecycle and
// detection horizon (at most the hourly window).
func (a *Aggregator) alertSettings(tenant string) (alerts.Params, alerts.Lifecycle, time.Duration) {
	t, _ := a.tenants.Get(tenant)
	p, l := alerts.DefaultParams, alerts.DefaultLifecycle
	l.ResendEvery = a.cfg.AlertResend
	horizon := 24 * time.Hour
	al := t.Alerts
	set := func(dst *time.Duration, v *time.Duration) {
		if v != nil {
			*dst = *v
		}
	}
	set(&l.PendingFor, al.PendingFor)
	set(&l.KeepFiringFor, al.KeepFiringFor)
	set(&horizon, al.DetectionHorizon)
	set(&p.MaxGuard, al.MaxGuardWindow)
	for _, f := range []struct {
		dst *float64
		v   *float64
	}{{&p.OddsWarning, al.OddsRatioWarning}, {&p.OddsCritical, al.OddsRatioCritical}, {&p.Shrinkage, al.BaselineShrinkage},
		{&p.ThresholdOffset, al.ThresholdOffset}, {&p.MinThreshold, al.MinThreshold}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	for _, n := range []struct {
		dst *int64
		v   *int64
	}{{&p.GuardResponses, al.GuardResponses}, {&p.GuardDetractors, al.GuardDetractors}, {&p.MinTenantResponses, al.MinTenantResponses}} {
		if n.v != nil {
			*n.dst = *n.v
		}
	}
	if hw, ok := hourlyWindow(a.cfg); ok {
		horizon = min(horizon, hw.Length)
	}
	return p, l, max(horizon, time.Hour)
}

// nps returns the NPS counts of packed counters.
func npsCounts(packed string) (alerts.Counts, store.Counters) {
	c, err := store.UnpackCounters(packed)
	if err != nil {
		return alerts.Counts{}, c
	}
	return alerts.Counts{N: int64(c[store.NPSResponses]), D: int64(c[store.NPSDetractors])}, c
}

// alertInput builds the detection input of one scope from its counters.
func (a *Aggregator) alertInput(h map[string]string, tenant []alerts.WindowCounts, horizon time.Duration, now time.Time) alerts.Input {
	in := alerts.Input{Windows: a.windowCounts(h), Tenant: tenant}
	if hw, ok := hourlyWindow(a.cfg); ok {
		last := hw.Index(now)
		for b := last - int64(horizon/time.Hour) + 1; b <= last; b++ {
			c, _ := npsCounts(h[hw.Name+":"+strconv.FormatInt(b, 10)])
			in.Hours = append(in.Hours, c)
		}
	}
	// The scope's age: from its earliest bucket of the largest window.
	first := int64(math.MaxInt64)
	prefix := a.largest.Name + ":"
	for k := range h {
		if b, err := strconv.ParseInt(strings.TrimPrefix(k, prefix), 10, 64); err == nil && strings.HasPrefix(k, prefix) {
			first = min(first, b)
		}
	}
	if first != math.MaxInt64 {
		in.Age = now.Sub(a.largest.Start(first))
	}
	return in
}

func (a *Aggregator) windowCounts(h map[string]string) []alerts.WindowCounts {
	out := make([]alerts.WindowCounts, len(a.cfg.Windows))
	for i, w := range a.cfg.Windows {
		c, _ := npsCounts(h[w.Name+":t"])
		out[i] = alerts.WindowCounts{Name: w.Name, Length: w.Length, Counts: c}
	}
	return out
}

// live reports whether an alert still needs evaluating.
func live(al *alerts.Alert) bool {
	return al.State == alerts.Pending || al.State == alerts.Firing || al.State == alerts.Resolved && !al.SentResolved
}

// EvaluateAlerts evaluates the given scopes of a tenant and every scope
// with a live alert at the current time, records the transitions, and
// sends what is due to cx.alerts and the configured sinks.
func (a *Aggregator) EvaluateAlerts(ctx context.Context, tenant string, scopes []string) error {
	if _, ok := hourlyWindow(a.cfg); !ok {
		return nil
	}
	a.alertMu.Lock()
	defer a.alertMu.Unlock()
	now := a.now()
	params, life, horizon := a.alertSettings(tenant)
	raw, err := a.store.AlertStates(ctx, tenant)
	if err != nil {
		return err
	}
	states := map[string]*alerts.Alert{}
	want := map[string]bool{}
	for _, s := range scopes {
		want[s] = true
	}
	var del []string
	for fp, js := range raw {
		al := &alerts.Alert{}
		if err := json.Unmarshal([]byte(js), al); err != nil {
			a.log.Warn("dropping an unreadable alert state", zap.String("tenant", tenant), zap.Error(err))
			del = append(del, fp)
			continue
		}
		states[fp] = al
		switch {
		case live(al):
			want[al.Labels["scope"]] = true
		case al.State == alerts.Resolved && now.Sub(al.EndsAt) > resolvedKept:
			del = append(del, fp)
		}
	}
	if len(want) == 0 && len(del) == 0 {
		return nil
	}
	all, err := a.store.ScopeCounters(ctx, tenant, "all")
	if err != nil {
		return err
	}
	tenantCounts := a.windowCounts(all)
	set := map[string]*alerts.Alert{}
	var notes []alerts.Notification
	var sent []*alerts.Alert
	for _, scope := range slices.Sorted(maps.Keys(want)) {
		h := all
		if scope != "all" {
			if h, err = a.store.ScopeCounters(ctx, tenant, scope); err != nil {
				return err
			}
		}
		d := params.Evaluate(a.alertInput(h, tenantCounts, horizon, now))
		for _, sev := range []alerts.Severity{alerts.Critical, alerts.Warning} {
			labels := alerts.Labels(tenant, scope, sev)
			fp := alerts.Fingerprint(labels)
			al := states[fp]
			if al == nil {
				al = &alerts.Alert{Fingerprint: fp, Labels: labels}
			}
			changed, notify := life.Step(al, d.Severity == sev, now)
			if sev == alerts.Warning && d.Severity == alerts.Critical && al.State == alerts.Firing {
				// Superseded by the critical alert.
				life.Resolve(al, now)
				changed, notify = true, true
			}
			if notify && al.State == alerts.Firing {
				if al.Annotations, err = a.annotate(ctx, tenant, scope, d, h, horizon, now); err != nil {
					return err
				}
				changed = true
			}
			switch {
			case al.State == "" && states[fp] != nil:
				del = append(del, fp)
			case al.State != "" && (changed || notify):
				set[fp] = al
			}
			if notify {
				notes = append(notes, life.Notify(al, now, a.generatorURL(tenant, scope)))
				sent = append(sent, al)
			}
		}
	}
	// The transitions are recorded before anything is sent: a crash in
	// between sends them again, which receivers deduplicate by
	// fingerprint and status.
	if err := a.saveAlerts(ctx, tenant, set, del); err != nil {
		return err
	}
	if len(notes) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(notes))
	for i, n := range notes {
		b, err := json.Marshal(n)
		if err != nil {
			return err
		}
		msgs[i] = kafka.Message{Topic: a.topic("alerts"), Key: []byte(n.Fingerprint), Value: b}
	}
	if err := a.scores.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("writing %d alerts to %s: %w", len(msgs), a.topic("alerts"), err)
	}
	for _, al := range sent {
		if al.State == alerts.Resolved {
			al.SentResolved = true
		} else {
			al.LastSent = now
		}
		set[al.Fingerprint] = al
	}
	if err := a.saveAlerts(ctx, tenant, set, nil); err != nil {
		return err
	}
	for _, n := range notes {
		a.metrics.alertSends.WithLabelValues("kafka", n.Status).Inc()
	}
	a.dispatch.Send(notes)
	return nil
}

func (a *Aggregator) saveAlerts(ctx context.Context, tenant string, set map[string]*alerts.Alert, del []string) error {
	enc := make(map[string][]byte, len(set))
	for fp, al := range set {
		b, err := json.Marshal(al)
		if err != nil {
			return err
		}
		enc[fp] = b
	}
	return a.store.SaveAlertStates(ctx, tenant, enc, del)
}

func (a *Aggregator) generatorURL(tenant, scope string) string {
	return strings.TrimSuffix(a.cfg.ExternalURL, "/") + "/v1/tenants/" + url.PathEscape(tenant) + "/scores?scope=" + url.QueryEscape(scope)
}

// annotate describes a firing alert (DESIGN §7): the guard window's
// counts and bounds, the baseline, NPS, the terms that drive the spike and
// up to three recent detractor comments.
func (a *Aggregator) annotate(ctx context.Context, tenant, scope string, d alerts.Decision, h map[string]string,
	horizon time.Duration, now time.Time) (map[string]string, error) {
	pct := func(x float64) string { return strconv.FormatFloat(100*x, 'f', 1, 64) }
	g := d.Guard
	_, c := npsCounts(h[g.Name+":t"])
	n := c[store.NPSResponses]
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
		P, D := c[store.NPSPromoters]/n, c[store.NPSDetractors]/n
		out["nps"] = strconv.FormatFloat(100*(P-D), 'f', 1, 64)
		out["nps_moe"] = strconv.FormatFloat(1.96*100*math.Sqrt(max(0, ((P+D)-(P-D)*(P-D))/n)), 'f', 1, 64)
	}
	// Themes: the detractor comments of the detection horizon against the
	// scope's earlier ones, with the tenant's as the prior.
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
	spike, err := a.store.TermCounts(ctx, tenant, scope, spikeB)
	if err != nil {
		return nil, err
	}
	base, err := a.store.TermCounts(ctx, tenant, scope, baseB)
	if err != nil {
		return nil, err
	}
	prior, err := a.store.TermCounts(ctx, tenant, "all", tenantB)
	if err != nil {
		return nil, err
	}
	terms := alerts.TopTerms(spike, base, prior, topTerms)
	tb, _ := json.Marshal(terms)
	out["top_terms"] = string(tb)
	samples, err := a.store.Samples(ctx, tenant, scope)
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
	names := make([]string, 0, 3)
	for _, t := range terms[:min(3, len(terms))] {
		names = append(names, t.Term)
	}
	about := ""
	if len(names) > 0 {
		about = "; detractors mention " + strings.Join(names, ", ")
	}
	out["summary"] = fmt.Sprintf("Detractor share at %s of %s is %s%% over %s, baseline %s%%%s",
		scope, tenant, out["detractor_share"], g.Name, out["baseline_share"], about)
	out["description"] = fmt.Sprintf("%d of %d NPS responses in the last %s are detractors (95%% Wilson %s–%s%%) against a baseline of %s%%. "+
		"Over the last %s the CUSUM statistics are %.2f (warning) and %.2f (critical) against a threshold of %.2f at %.1f responses a day.",
		g.D, g.N, g.Name, out["wilson_low"], out["wilson_high"], out["baseline_share"], window.FormatDuration(horizon),
		d.SWarning, d.SCritical, d.H, d.R)
	return out, nil
}
