// Package alerts decides when the detractor share of a scope spikes
// (docs/alerts.md): a binomial CUSUM over the hourly buckets of the detection
// horizon against a baseline shrunk toward the tenant's rate, with a
// threshold that scales with the scope's volume and guards against small
// samples. Everything here is a pure function of counts, so a replay or a
// revision recomputes the same answer.
package alerts

import (
	"math"
	"time"

	"github.com/cxpulse/cxpulse/internal/stats"
)

// Severity of a detractor spike.
type Severity int

// Severities, in increasing order.
const (
	None Severity = iota
	Warning
	Critical
)

func (s Severity) String() string {
	switch s {
	case Warning:
		return "warning"
	case Critical:
		return "critical"
	}
	return "none"
}

// Params are the detection parameters; every one can be set per tenant.
type Params struct {
	// OddsWarning and OddsCritical are the odds ratios the two CUSUMs
	// look for (docs/alerts.md: 2 and 3).
	OddsWarning, OddsCritical float64
	// Shrinkage is m, the weight of the tenant rate in the baseline.
	Shrinkage float64
	// MinThreshold and ThresholdOffset give h = max(MinThreshold,
	// ln(r × 365) − ThresholdOffset), r the scope's responses per day.
	MinThreshold, ThresholdOffset float64
	// GuardResponses is the n a guard window must hold to be chosen;
	// GuardDetractors the detractors it must hold to alert; MaxGuard the
	// longest guard window.
	GuardResponses, GuardDetractors int64
	MaxGuard                        time.Duration
	// Baseline is how far back the baseline reaches.
	Baseline time.Duration
	// MinTenantResponses is the tenant-wide baseline needed before any
	// scope of the tenant can alert: without it there is no rate to
	// compare with.
	MinTenantResponses int64
	// FalseAlarmsPerYear is the tenant's false-alarm budget B: with
	// Scopes (S, the tenant's scopes) the threshold of every scope grows
	// by ln(ScopeYearRate × S / B), so that the S scopes together expect
	// at most B false alarms a year. 0 turns the budget off (each scope
	// on its own, at most ScopeYearRate a year).
	FalseAlarmsPerYear float64
	Scopes             int
}

// ScopeYearRate bounds the false alarms per scope-year of the threshold
// without the budget term: the worst cell of TestDetectionQuality
// (docs/alerts.md) is 1.18.
const ScopeYearRate = 1.2

// DefaultParams are the docs/alerts.md values.
var DefaultParams = Params{
	OddsWarning: 2, OddsCritical: 3, Shrinkage: 50,
	MinThreshold: 3.5, ThresholdOffset: 3.0,
	GuardResponses: 10, GuardDetractors: 5, MaxGuard: 7 * 24 * time.Hour,
	Baseline: 90 * 24 * time.Hour, MinTenantResponses: 30,
	FalseAlarmsPerYear: 1,
}

// Counts are NPS responses and detractors.
type Counts struct {
	N, D int64
}

// Share returns D / N, 0 when N is 0.
func (c Counts) Share() float64 {
	if c.N == 0 {
		return 0
	}
	return float64(c.D) / float64(c.N)
}

// WindowCounts are the counts of one configured window.
type WindowCounts struct {
	Name   string
	Length time.Duration
	Counts
}

// Input is what one evaluation of one scope looks at.
type Input struct {
	// Hours are the NPS counts of the hourly buckets of the detection
	// horizon, oldest first.
	Hours []Counts
	// Windows are the scope's counts per configured window, shortest
	// first; the guard window is chosen among them and the baseline is
	// the longest one reaching Params.Baseline minus the guard window.
	Windows []WindowCounts
	// Tenant are the tenant-wide (scope all) counts of the same windows.
	Tenant []WindowCounts
	// Age is how long the scope has had responses (its baseline period is
	// the shorter of this and the baseline length).
	Age time.Duration
}

// Decision is the outcome of one evaluation, with what led to it.
type Decision struct {
	Severity Severity
	// Reason says why no alert was raised, when none was.
	Reason string
	// Guard is the chosen guard window and its counts.
	Guard WindowCounts
	// Baseline, P0 (the shrunk baseline share), PTenant, the responses
	// per day R and the threshold H.
	Baseline          Counts
	P0, PTenant, R, H float64
	// Budget is the part of H the tenant's false-alarm budget adds for
	// its Scopes scopes (Params.BudgetTerm).
	Budget float64
	Scopes int
	// SWarning and SCritical are the CUSUM statistics at the last hour.
	SWarning, SCritical float64
	// WilsonLow and WilsonHigh bound the guard window's detractor share.
	WilsonLow, WilsonHigh float64
}

// CUSUM returns the binomial CUSUM statistic after the last hour: S_k =
// max(0, S_{k−1} + D_k·ln OR − n_k·ln(1 − p0 + OR·p0)), S_0 = 0.
func CUSUM(hours []Counts, p0, odds float64) float64 {
	up, down := math.Log(odds), math.Log(1-p0+odds*p0)
	s := 0.0
	for _, h := range hours {
		s = max(0, s+float64(h.D)*up-float64(h.N)*down)
	}
	return s
}

// Threshold returns h for a scope with r responses per day: the scope's
// own threshold plus the tenant's budget term (BudgetTerm).
func (p Params) Threshold(r float64) float64 {
	return max(p.MinThreshold, math.Log(r*365)-p.ThresholdOffset) + p.BudgetTerm()
}

// BudgetTerm is what the tenant's false-alarm budget adds to every
// threshold: ln(ScopeYearRate × S / B), at least 0, and 0 without a
// budget or a count of scopes. A false alarm needs the CUSUM to climb by
// h, and at these thresholds their rate falls as e^−h (the simulation in
// docs/alerts.md: each added ln 10 divides it by about 10).
func (p Params) BudgetTerm() float64 {
	if p.FalseAlarmsPerYear <= 0 || p.Scopes <= 0 {
		return 0
	}
	return max(0, math.Log(ScopeYearRate*float64(p.Scopes)/p.FalseAlarmsPerYear))
}

// guard returns the index of the guard window: the shortest window of at
// least 24h holding GuardResponses, at most MaxGuard; failing that the
// longest candidate. -1 when no window qualifies.
func (p Params) guard(ws []WindowCounts) int {
	pick := -1
	for i, w := range ws {
		if w.Length < 24*time.Hour || w.Length > p.MaxGuard {
			continue
		}
		pick = i
		if w.N >= p.GuardResponses {
			return i
		}
	}
	return pick
}

// baseline returns the counts of (now − Baseline, now − guard] from the
// window of length Baseline (or the longest shorter one) minus the guard
// window, and the days that period spans.
func (p Params) baseline(ws []WindowCounts, guard int) (Counts, float64) {
	long := -1
	for i, w := range ws {
		if w.Length <= p.Baseline {
			long = i
		}
	}
	if long < 0 || long <= guard {
		return Counts{}, 0
	}
	b := Counts{N: ws[long].N - ws[guard].N, D: ws[long].D - ws[guard].D}
	return b, (ws[long].Length - ws[guard].Length).Hours() / 24
}

// Evaluate decides the severity of one scope now.
func (p Params) Evaluate(in Input) Decision {
	var d Decision
	g := p.guard(in.Windows)
	if g < 0 {
		d.Reason = "no window between 24h and the longest guard window is configured"
		return d
	}
	d.Guard = in.Windows[g]
	var days float64
	d.Baseline, days = p.baseline(in.Windows, g)
	tenant, _ := p.baseline(in.Tenant, g)
	if tenant.N < p.MinTenantResponses {
		d.Reason = "the tenant has too few responses for a baseline"
		return d
	}
	d.PTenant = tenant.Share()
	d.P0 = (float64(d.Baseline.D) + p.Shrinkage*d.PTenant) / (float64(d.Baseline.N) + p.Shrinkage)
	if age := in.Age.Hours()/24 - d.Guard.Length.Hours()/24; age < days {
		days = age
	}
	d.R = float64(d.Baseline.N) / max(1, days)
	d.H = p.Threshold(d.R)
	d.Budget, d.Scopes = p.BudgetTerm(), p.Scopes
	d.SWarning = CUSUM(in.Hours, d.P0, p.OddsWarning)
	d.SCritical = CUSUM(in.Hours, d.P0, p.OddsCritical)
	d.WilsonLow, d.WilsonHigh = stats.Wilson(d.Guard.D, d.Guard.N)
	switch {
	case d.SWarning < d.H && d.SCritical < d.H:
		d.Reason = "below threshold"
	case d.Guard.D < p.GuardDetractors:
		d.Reason = "too few detractors in the guard window"
	case d.WilsonLow <= d.P0:
		d.Reason = "the guard window's share is not clearly above the baseline"
	case d.SCritical >= d.H:
		d.Severity = Critical
	default:
		d.Severity = Warning
	}
	return d
}
