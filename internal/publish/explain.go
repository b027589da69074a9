package publish

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store/query"
)

// evaluate evaluates the scopes of a round smallest first, each that
// would alert again without the smaller alerting scopes it overlaps
// (alerts.EvaluateScopes), steps their alerts, and names the scopes each
// alerting scope explains in its alerts' also_affects.
func (r *alertRound) evaluate(ctx context.Context, p *Publisher, want map[string]bool, tenantCounts []alerts.WindowCounts, all *query.ScopeCounters) error {
	counters := map[string]*query.ScopeCounters{}
	inputs := make([]alerts.ScopeInput, 0, len(want))
	for _, scope := range slices.Sorted(maps.Keys(want)) {
		sc := all
		if scope != "all" {
			var err error
			if sc, err = p.store.ScopeCounters(ctx, r.tenant, scope); err != nil {
				return err
			}
		}
		in, err := p.alertInput(sc, tenantCounts, r.horizon, r.now)
		if err != nil {
			return err
		}
		largest, err := sc.Total(p.largest.Name)
		if err != nil {
			return err
		}
		counters[scope] = sc
		inputs = append(inputs, alerts.ScopeInput{Scope: scope, In: in, Size: int64(largest[stats.NPSResponses])})
	}
	firing := r.firingScopes()
	verdicts := r.params.EvaluateScopes(inputs, func(scope string) bool { return firing[scope] })
	explains := map[string][]string{} // scope → the evaluated scopes it explains
	for _, v := range verdicts {
		if err := r.step(ctx, p, v, counters[v.Scope]); err != nil {
			return err
		}
		for _, c := range v.ExplainedBy {
			explains[c] = append(explains[c], v.Scope)
		}
	}
	r.alsoAffects(want, explains)
	return nil
}

// firingScopes returns the scopes with a firing alert (of either
// severity) in the states this round read.
func (r *alertRound) firingScopes() map[string]bool {
	out := map[string]bool{}
	for _, al := range r.states {
		if al.State == alerts.Firing {
			out[al.Labels["scope"]] = true
		}
	}
	return out
}

// current returns the round's alerts: the states read, as changed so far.
func (r *alertRound) current() map[string]*alerts.Alert {
	out := maps.Clone(r.states)
	maps.Copy(out, r.set)
	return out
}

// alsoAffects updates the also_affects of every pending or firing alert:
// of the scopes evaluated this round, those its scope explains now; of
// the others, those it named before.
func (r *alertRound) alsoAffects(evaluated map[string]bool, explains map[string][]string) {
	for fp, al := range r.current() {
		if al.State != alerts.Pending && al.State != alerts.Firing {
			continue
		}
		next := slices.DeleteFunc(slices.Clone(al.AlsoAffects), func(sc string) bool { return evaluated[sc] })
		next = append(next, explains[al.Labels["scope"]]...)
		slices.Sort(next)
		next = slices.Compact(next)
		if slices.Equal(next, al.AlsoAffects) {
			continue
		}
		setAlsoAffects(al, next)
		r.set[fp] = al
	}
}

// setAlsoAffects sets an alert's also_affects, field and annotation.
func setAlsoAffects(al *alerts.Alert, scopes []string) {
	al.AlsoAffects = scopes
	if al.Annotations == nil {
		al.Annotations = map[string]string{}
	}
	if len(scopes) == 0 {
		delete(al.Annotations, "also_affects")
		return
	}
	al.Annotations["also_affects"] = strings.Join(scopes, ", ")
}
