package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/outbox"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store/query"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// Detractor-spike alerts (docs/alerts.md) are evaluated by the instance holding
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

// hourlyWindow returns the longest configured window with hourly buckets:
// its buckets are the hours the CUSUM runs over.
func hourlyWindow(windows []window.Window) (w window.Window, ok bool) {
	for _, win := range windows {
		if win.Bucket == time.Hour {
			w, ok = win, true
		}
	}
	return w, ok
}

// alertSettings returns a tenant's detection parameters, lifecycle and
// detection horizon (at most the hourly window).
func (p *Publisher) alertSettings(tenant string) (alerts.Params, alerts.Lifecycle, time.Duration) {
	t, _ := p.parts.Tenants.Get(tenant)
	ps, l := alerts.DefaultParams, alerts.DefaultLifecycle
	l.ResendEvery = p.cfg.AlertResend
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
	set(&ps.MaxGuard, al.MaxGuardWindow)
	for _, f := range []struct {
		dst *float64
		v   *float64
	}{{&ps.OddsWarning, al.OddsRatioWarning}, {&ps.OddsCritical, al.OddsRatioCritical}, {&ps.Shrinkage, al.BaselineShrinkage},
		{&ps.ThresholdOffset, al.ThresholdOffset}, {&ps.MinThreshold, al.MinThreshold}, {&ps.FalseAlarmsPerYear, al.FalseAlarmsPerYear}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	for _, n := range []struct {
		dst *int64
		v   *int64
	}{{&ps.GuardResponses, al.GuardResponses}, {&ps.GuardDetractors, al.GuardDetractors}, {&ps.MinTenantResponses, al.MinTenantResponses}} {
		if n.v != nil {
			*n.dst = *n.v
		}
	}
	if hw, ok := hourlyWindow(p.cfg.Windows); ok {
		horizon = min(horizon, hw.Length)
	}
	return ps, l, max(horizon, time.Hour)
}

// npsCounts returns the NPS counts of counters.
func npsCounts(c *stats.Counters) alerts.Counts {
	return alerts.Counts{N: int64(c[stats.NPSResponses]), D: int64(c[stats.NPSDetractors])}
}

// alertInput builds the detection input of one scope from its counters.
func (p *Publisher) alertInput(sc *query.ScopeCounters, tenant []alerts.WindowCounts, horizon time.Duration, now time.Time) (alerts.Input, error) {
	ws, err := p.windowCounts(sc)
	if err != nil {
		return alerts.Input{}, err
	}
	in := alerts.Input{Windows: ws, Tenant: tenant}
	if hw, ok := hourlyWindow(p.cfg.Windows); ok {
		last := hw.Index(now)
		for b := last - int64(horizon/time.Hour) + 1; b <= last; b++ {
			c, err := sc.Bucket(hw.Name, b)
			if err != nil {
				return alerts.Input{}, err
			}
			in.Hours = append(in.Hours, npsCounts(&c))
		}
	}
	// The scope's age: from its earliest bucket of the largest window.
	if first, ok := sc.FirstBucket(p.largest.Name); ok {
		in.Age = now.Sub(p.largest.Start(first))
	}
	return in, nil
}

func (p *Publisher) windowCounts(sc *query.ScopeCounters) ([]alerts.WindowCounts, error) {
	out := make([]alerts.WindowCounts, len(p.cfg.Windows))
	for i, w := range p.cfg.Windows {
		c, err := sc.Total(w.Name)
		if err != nil {
			return nil, err
		}
		out[i] = alerts.WindowCounts{Name: w.Name, Length: w.Length, Counts: npsCounts(&c)}
	}
	return out, nil
}

// live reports whether an alert still needs evaluating.
func live(al *alerts.Alert) bool {
	return al.State == alerts.Pending || al.State == alerts.Firing || al.State == alerts.Resolved && !al.SentResolved
}

// EvaluateAlerts evaluates the given scopes of a tenant and every scope
// with a live alert at the current time, records the transitions, and
// sends what is due to cx.alerts and the configured sinks.
func (p *Publisher) EvaluateAlerts(ctx context.Context, tenant string, scopes []string) error {
	for range 3 {
		// An erasure landing while the alerts are evaluated refuses their
		// states (they may quote the customer): evaluate them again.
		if err := p.evaluateAlerts(ctx, tenant, scopes); !errors.Is(err, outbox.ErrErased) {
			return err
		}
	}
	return fmt.Errorf("evaluating the alerts of %s: %w", tenant, outbox.ErrErased)
}

// evaluateAlerts is one evaluation of EvaluateAlerts.
func (p *Publisher) evaluateAlerts(ctx context.Context, tenant string, scopes []string) error {
	if _, ok := hourlyWindow(p.cfg.Windows); !ok {
		return nil
	}
	mu := p.alertLock(tenant)
	mu.Lock()
	defer mu.Unlock()
	now := p.now()
	// Annotations quote comments: states made before an erasure that
	// lands meanwhile are not saved (saveAlerts), so none quotes an
	// erased customer.
	erasures, err := p.store.ErasureCount(ctx, tenant)
	if err != nil {
		return err
	}
	r := &alertRound{tenant: tenant, now: now, set: map[string]*alerts.Alert{}}
	r.params, r.life, r.horizon = p.alertSettings(tenant)
	want, err := r.readStates(ctx, p, scopes)
	if err != nil || (len(want) == 0 && len(r.del) == 0) {
		if err == nil {
			p.noteLive(tenant, false)
		}
		return err
	}
	// Whatever this round ends in, the tenant is evaluated again next
	// round while any alert of it is live.
	defer func() { p.noteLive(tenant, slices.ContainsFunc(slices.Collect(maps.Values(r.current())), live)) }()
	// The tenant's false-alarm budget is shared by all its scopes.
	if r.params.Scopes, err = p.store.ScopeCount(ctx, tenant); err != nil {
		return err
	}
	all, err := p.store.ScopeCounters(ctx, tenant, "all")
	if err != nil {
		return err
	}
	tenantCounts, err := p.windowCounts(all)
	if err != nil {
		return err
	}
	if err := r.evaluate(ctx, p, want, tenantCounts, all); err != nil {
		return err
	}
	// The transitions are recorded before anything is sent: a crash in
	// between sends them again, which receivers deduplicate by
	// fingerprint and status.
	if err := p.saveAlerts(ctx, tenant, erasures, r.set, r.del, nil); err != nil {
		return err
	}
	if len(r.notes) == 0 {
		return nil
	}
	return p.sendAlerts(ctx, r, erasures)
}

// alertLock returns the lock of a tenant's alert evaluations.
func (p *Publisher) alertLock(tenant string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(tenant))
	return &p.alertLocks[h.Sum32()%uint32(len(p.alertLocks))]
}

// alertRound is one evaluation of a tenant's alerts: the states read, and
// what changes, is deleted and is sent.
type alertRound struct {
	tenant  string
	now     time.Time
	params  alerts.Params
	life    alerts.Lifecycle
	horizon time.Duration
	states  map[string]*alerts.Alert
	set     map[string]*alerts.Alert
	del     []string
	notes   []alerts.Notification
	sent    []*alerts.Alert
}

// readStates reads the tenant's alert states and returns the scopes to
// evaluate: those asked for and those of live alerts. Unreadable states,
// and resolved ones kept long enough, are to be deleted.
func (r *alertRound) readStates(ctx context.Context, p *Publisher, scopes []string) (map[string]bool, error) {
	raw, err := p.outbox.AlertStates(ctx, r.tenant)
	if err != nil {
		return nil, err
	}
	r.states = map[string]*alerts.Alert{}
	want := map[string]bool{}
	for _, s := range scopes {
		want[s] = true
	}
	for fp, js := range raw {
		al := &alerts.Alert{}
		if err := json.Unmarshal([]byte(js), al); err != nil {
			p.log.Warn("dropping an unreadable alert state", zap.String("tenant", r.tenant), zap.Error(err))
			r.del = append(r.del, fp)
			continue
		}
		r.states[fp] = al
		switch {
		case live(al):
			want[al.Labels["scope"]] = true
		case al.State == alerts.Resolved && r.now.Sub(al.EndsAt) > resolvedKept:
			r.del = append(r.del, fp)
		}
	}
	return want, nil
}

// step moves the alerts of each severity of one scope through their
// lifecycle by its verdict; a scope a smaller one explains resolves at once.
func (r *alertRound) step(ctx context.Context, p *Publisher, v alerts.Verdict, sc *query.ScopeCounters) error {
	life, horizon, scope, d := r.life, r.horizon, v.Scope, v.Decision
	var err error
	for _, sev := range []alerts.Severity{alerts.Critical, alerts.Warning} {
		labels := alerts.Labels(r.tenant, scope, sev)
		fp := alerts.Fingerprint(labels)
		al := r.states[fp]
		if al == nil {
			al = &alerts.Alert{Fingerprint: fp, Labels: labels}
		}
		changed, notify := life.Step(al, d.Severity == sev, r.now)
		superseded := sev == alerts.Warning && d.Severity == alerts.Critical
		if (superseded || len(v.ExplainedBy) > 0) && al.State == alerts.Firing {
			// Superseded by the critical alert, or explained by smaller
			// scopes' alerts, which name this scope.
			life.Resolve(al, r.now)
			changed, notify = true, true
		}
		if notify && al.State == alerts.Firing {
			if al.Annotations, err = p.annotate(ctx, r.tenant, scope, d, sc, horizon, r.now); err != nil {
				return err
			}
			if len(v.Excluding) > 0 {
				al.Annotations["excluding"] = strings.Join(v.Excluding, ", ")
			}
			setAlsoAffects(al, al.AlsoAffects)
			changed = true
		}
		switch {
		case al.State == "" && r.states[fp] != nil:
			r.del = append(r.del, fp)
		case al.State != "" && (changed || notify):
			r.set[fp] = al
		}
		if notify {
			r.notes = append(r.notes, life.Notify(al, r.now, p.generatorURL(r.tenant, scope)))
			r.sent = append(r.sent, al)
		}
	}
	return nil
}

// sendAlerts writes a round's notifications to cx.alerts, the record of
// what was sent, before the states say so; the other sinks get them
// queued durably in the same step that marks them sent.
func (p *Publisher) sendAlerts(ctx context.Context, r *alertRound, erasures int64) error {
	if err := p.alertsTo.Send(ctx, r.notes); err != nil {
		return err
	}
	for _, al := range r.sent {
		if al.State == alerts.Resolved {
			al.SentResolved = true
		} else {
			al.LastSent = r.now
		}
		r.set[al.Fingerprint] = al
	}
	if err := p.saveAlerts(ctx, r.tenant, erasures, r.set, nil, r.notes); err != nil {
		return err
	}
	for _, n := range r.notes {
		p.metrics.alertSends.WithLabelValues(p.alertsTo.Name(), n.Status).Inc()
	}
	return nil
}

// saveAlerts writes alert states and queues notes for every HTTP sink, in
// one step fenced by this instance's lease epoch.
func (p *Publisher) saveAlerts(ctx context.Context, tenant string, erasures int64, set map[string]*alerts.Alert, del []string, notes []alerts.Notification) error {
	enc := make(map[string][]byte, len(set))
	for fp, al := range set {
		b, err := json.Marshal(al)
		if err != nil {
			return fmt.Errorf("encoding alert %s: %w", fp, err)
		}
		enc[fp] = b
	}
	var queue map[string][][]byte
	if len(notes) > 0 && len(p.sinks) > 0 {
		queued := make([][]byte, len(notes))
		for i, n := range notes {
			b, err := json.Marshal(n)
			if err != nil {
				return fmt.Errorf("encoding alert %s: %w", n.Fingerprint, err)
			}
			queued[i] = b
		}
		queue = map[string][][]byte{}
		for _, s := range p.sinks {
			queue[s.Name()] = queued
		}
	}
	dropped, err := p.outbox.SaveAlerts(ctx, tenant, p.epoch.Load(), erasures, enc, del, queue)
	if err != nil {
		return err
	}
	if dropped > 0 {
		p.log.Warn("alert sink queue full: dropped the oldest notifications", zap.String("tenant", tenant), zap.Int64("dropped", dropped))
		p.metrics.alertsDropped.Add(float64(dropped))
	}
	return nil
}

func (p *Publisher) generatorURL(tenant, scope string) string {
	return strings.TrimSuffix(p.cfg.ExternalURL, "/") + "/v1/tenants/" + url.PathEscape(tenant) + "/scores?scope=" + url.QueryEscape(scope)
}
