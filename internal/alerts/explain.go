package alerts

import (
	"cmp"
	"slices"
	"strings"
)

// A spike at one store shows in its region, its channels and the tenant as
// a whole too. Explained scopes (docs/alerts.md) give one alert per cause:
// scopes are evaluated smallest first, and a scope is evaluated again on
// its answers minus those of the overlapping smaller scopes already
// alerting; when that residual no longer meets the condition, the scope
// does not alert, and the smaller scopes' alerts name it in also_affects.

// ScopeInput is what one scope's evaluation looks at, with its size (NPS
// responses in the largest window) for the order of evaluation.
type ScopeInput struct {
	Scope string
	In    Input
	Size  int64
}

// Verdict is the outcome for one scope.
type Verdict struct {
	Scope string
	// Decision is what the scope's alerts follow: on its residual when
	// Excluding is not empty, else on its own answers.
	Decision Decision
	// Excluding are the alerting scopes whose answers were taken out.
	Excluding []string
	// ExplainedBy is set when the scope's own answers meet the condition
	// but the residual does not: the scopes that explain its spike.
	ExplainedBy []string
}

// EvaluateScopes evaluates scopes smallest first (then more dimensions
// first, then by name). A scope counts as alerting for the scopes after it
// when its verdict has a severity or stillFiring says its alert is firing
// (keep_firing_for). It returns the verdicts in the order evaluated.
func (p Params) EvaluateScopes(scopes []ScopeInput, stillFiring func(scope string) bool) []Verdict {
	order := slices.Clone(scopes)
	slices.SortFunc(order, func(a, b ScopeInput) int {
		if c := cmp.Compare(a.Size, b.Size); c != 0 {
			return c
		}
		if c := cmp.Compare(len(pairs(b.Scope)), len(pairs(a.Scope))); c != 0 {
			return c
		}
		return strings.Compare(a.Scope, b.Scope)
	})
	var alerting []ScopeInput
	out := make([]Verdict, 0, len(order))
	for _, s := range order {
		v := Verdict{Scope: s.Scope, Decision: p.Evaluate(s.In)}
		if v.Decision.Severity != None {
			// Only a scope that would alert is looked at again.
			residual := s.In
			for _, c := range alerting {
				if Overlap(c.Scope, s.Scope) {
					residual = residual.Minus(c.In)
					v.Excluding = append(v.Excluding, c.Scope)
				}
			}
			if len(v.Excluding) > 0 {
				v.Decision = p.Evaluate(residual)
				if v.Decision.Severity == None {
					v.ExplainedBy = v.Excluding
				}
			}
		}
		if v.Decision.Severity != None || stillFiring(s.Scope) {
			alerting = append(alerting, s)
		}
		out = append(out, v)
	}
	return out
}

// Minus returns the input less another scope's answers, hour by hour and
// window by window, each count at least 0 and detractors at most
// responses. The tenant counts and the age stay.
func (in Input) Minus(o Input) Input {
	out := Input{Tenant: in.Tenant, Age: in.Age, Hours: make([]Counts, len(in.Hours)), Windows: make([]WindowCounts, len(in.Windows))}
	for i, h := range in.Hours {
		if i < len(o.Hours) {
			h = h.minus(o.Hours[i])
		}
		out.Hours[i] = h
	}
	for i, w := range in.Windows {
		if i < len(o.Windows) && o.Windows[i].Name == w.Name {
			w.Counts = w.Counts.minus(o.Windows[i].Counts)
		}
		out.Windows[i] = w
	}
	return out
}

func (c Counts) minus(o Counts) Counts {
	n := max(0, c.N-o.N)
	return Counts{N: n, D: min(n, max(0, c.D-o.D))}
}

// Overlap reports whether scope c can hold answers of scope p, by their
// names: no dimension has different values in the two, and p does not lie
// inside c (c's dimension values all p's). A scope inside p by name
// (channel=web,store=s03 inside channel=web, anything inside all) is
// subtracted exactly; one that may only share answers with p (store=s03
// and region=eu or channel=web: which region a store is in, the names do
// not say) is subtracted whole, clipped at zero, which can only make p
// quieter, by at most c's answers.
func Overlap(c, p string) bool {
	if c == p {
		return false
	}
	if p == "all" {
		return true
	}
	cp, pp := pairs(c), pairs(p)
	for dim, v := range pp {
		if w, ok := cp[dim]; ok && w != v {
			return false // disjoint
		}
	}
	for dim, v := range cp {
		if pp[dim] != v {
			return true
		}
	}
	return false // p lies inside c
}

// pairs reads a scope name ("channel=web,store=s03", "all") into its
// dimension values.
func pairs(scope string) map[string]string {
	out := map[string]string{}
	if scope == "all" {
		return out
	}
	for part := range strings.SplitSeq(scope, ",") {
		if dim, v, ok := strings.Cut(part, "="); ok {
			out[dim] = v
		}
	}
	return out
}
