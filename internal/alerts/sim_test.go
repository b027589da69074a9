package alerts

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cxpulse/cxpulse/internal/testseed"
)

// scopeSim is one simulated scope: Poisson arrivals of NPS responses, each
// a detractor with probability p, evaluated at the end of every hour the
// way the aggregator does, with the lifecycle's keep_firing_for of 1h.
type scopeSim struct {
	rng     *rand.Rand
	perHour float64
	hours   []Counts // every hour so far
	sums    [len(simWindows)]Counts
	firing  bool
	quiet   int // hours below threshold while firing
	params  Params
	tenant  []WindowCounts
}

// simWindows are the default windows, in hours.
var simWindows = [...]struct {
	name  string
	hours int
}{{"1h", 1}, {"24h", 24}, {"7d", 168}, {"30d", 720}, {"90d", 2160}}

// newScopeSim returns a scope of a tenant with scopes scopes (0: the
// threshold without the tenant's budget term).
func newScopeSim(rng *rand.Rand, perDay, tenantShare float64, scopes int) *scopeSim {
	s := &scopeSim{rng: rng, perHour: perDay / 24, params: DefaultParams}
	s.params.Scopes = scopes
	// The tenant: many scopes at the same share, large enough that its
	// own noise does not matter.
	for _, w := range simWindows {
		n := int64(2000 * w.hours)
		s.tenant = append(s.tenant, WindowCounts{Name: w.name, Length: time.Duration(w.hours) * time.Hour,
			Counts: Counts{N: n, D: int64(math.Round(float64(n) * tenantShare))}})
	}
	return s
}

func (s *scopeSim) poisson(l float64) int64 {
	// Knuth's method, in pieces so that e^-l stays representable.
	var k int64
	for l > 0 {
		step := min(l, 30)
		l -= step
		L, p := math.Exp(-step), 1.0
		for {
			p *= s.rng.Float64()
			if p <= L {
				break
			}
			k++
		}
	}
	return k
}

// hour simulates one hour at detractor share p and evaluates; it returns
// the decision and whether an alert started firing.
func (s *scopeSim) hour(p float64) (Decision, bool) {
	c := Counts{N: s.poisson(s.perHour)}
	for range c.N {
		if s.rng.Float64() < p {
			c.D++
		}
	}
	s.hours = append(s.hours, c)
	t := len(s.hours)
	for i, w := range simWindows {
		s.sums[i].N += c.N
		s.sums[i].D += c.D
		if t > w.hours {
			old := s.hours[t-1-w.hours]
			s.sums[i].N -= old.N
			s.sums[i].D -= old.D
		}
	}
	in := Input{Hours: s.hours[max(0, t-24):], Tenant: s.tenant, Age: time.Duration(t) * time.Hour}
	for i, w := range simWindows {
		in.Windows = append(in.Windows, WindowCounts{Name: w.name, Length: time.Duration(w.hours) * time.Hour, Counts: s.sums[i]})
	}
	d := s.params.Evaluate(in)
	started := false
	switch {
	case d.Severity > None && !s.firing:
		s.firing, s.quiet, started = true, 0, true
	case d.Severity > None:
		s.quiet = 0
	case s.firing:
		// keep_firing_for 1h: resolved once below at two evaluations an
		// hour apart.
		if s.quiet++; s.quiet >= 2 {
			s.firing = false
		}
	}
	// Keep memory bounded: the windows need the last 90 days only.
	if len(s.hours) > 4*2160 {
		s.hours = slices.Clone(s.hours[len(s.hours)-2161:])
	}
	return d, started
}

type simCell struct {
	perDay, share float64
}

var simCells = func() []simCell {
	var out []simCell
	for _, v := range []float64{5, 50, 500} {
		for _, p := range []float64{0.1, 0.2, 0.3} {
			out = append(out, simCell{v, p})
		}
	}
	return out
}()

// falseAlarms runs scopeYears stationary scope-years (after a 90-day
// warm-up) of scopes of a tenant with the given number of scopes and
// returns alerts started per scope-year.
func falseAlarms(seed uint64, c simCell, scopes, scopeYears int) float64 {
	rng := rand.New(rand.NewPCG(seed, uint64(c.perDay*1000+c.share*100)+uint64(scopes)<<32))
	alarms := 0
	for range scopeYears {
		s := newScopeSim(rng, c.perDay, c.share, scopes)
		for range 90 * 24 {
			s.hour(c.share)
		}
		for range 365 * 24 {
			if _, started := s.hour(c.share); started {
				alarms++
			}
		}
	}
	return float64(alarms) / float64(scopeYears)
}

// delays runs trials of a step to the given odds ratio after a 90-day
// warm-up and returns the median hours to the first alert and the share
// detected within 14 days.
func delays(seed uint64, c simCell, odds float64, scopes, trials int) (median float64, detected float64) {
	rng := rand.New(rand.NewPCG(seed, uint64(c.perDay*1000+c.share*100+odds)+uint64(scopes)<<32))
	p1 := odds * c.share / (1 - c.share + odds*c.share)
	var hs []float64
	for range trials {
		s := newScopeSim(rng, c.perDay, c.share, scopes)
		for range 90 * 24 {
			s.hour(c.share)
		}
		h := math.Inf(1)
		for k := 1; k <= 14*24; k++ {
			if d, _ := s.hour(p1); d.Severity > None {
				h = float64(k)
				break
			}
		}
		hs = append(hs, h)
	}
	slices.Sort(hs)
	n := 0
	for _, h := range hs {
		if !math.IsInf(h, 1) {
			n++
		}
	}
	return hs[len(hs)/2], float64(n) / float64(len(hs))
}

// TestDetectionQuality simulates every cell of volume × baseline share:
// false alarms over 100 stationary scope-years, and the delay to detect a
// step to odds ratio 2 and 3 over 100 trials each. docs/alerts.md targets: at
// most 1.5 false alarms per scope-year, and a step to odds ratio 3
// detected (median) within 36 h at 50/day and 6 h at 500/day.
func TestDetectionQuality(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 900 scope-years")
	}
	// Seeded, so the table in docs/alerts.md can be reproduced; set
	// CXPULSE_TEST_SEED to explore others.
	seed := testseed.Or(t, 20261122)
	var table strings.Builder
	table.WriteString("| responses/day | baseline share | false alarms per scope-year | median delay OR 2 (detected in 14 d) | median delay OR 3 (detected in 14 d) |\n| --- | --- | --- | --- | --- |\n")
	for _, c := range simCells {
		fa := falseAlarms(seed, c, 0, 100)
		d2, det2 := delays(seed, c, 2, 0, 100)
		d3, det3 := delays(seed, c, 3, 0, 100)
		fmt.Fprintf(&table, "| %.0f | %.0f %% | %.2f | %s | %s |\n", c.perDay, 100*c.share, fa, fmtDelay(d2, det2), fmtDelay(d3, det3))
		if fa > 1.5 {
			t.Errorf("%.0f/day at %.0f %%: %.2f false alarms per scope-year, want ≤ 1.5", c.perDay, 100*c.share, fa)
		}
		if c.perDay == 50 && d3 > 36 {
			t.Errorf("50/day at %.0f %%: median delay to odds ratio 3 is %.0f h, want ≤ 36 h", 100*c.share, d3)
		}
		if c.perDay == 500 && d3 > 6 {
			t.Errorf("500/day at %.0f %%: median delay to odds ratio 3 is %.0f h, want ≤ 6 h", 100*c.share, d3)
		}
	}
	t.Logf("seed %d\n%s", seed, table.String())
}

// fmtDelay writes a median delay and the share detected within 14 days.
func fmtDelay(h, det float64) string {
	if math.IsInf(h, 1) {
		return fmt.Sprintf("> 14 d (%.0f %%)", 100*det)
	}
	return fmt.Sprintf("%.0f h (%.0f %%)", h, 100*det)
}

// budgetScopes are the tenant sizes of the budget table, and
// budgetYears how many scope-years each is simulated over: ten tenant-years.
var budgetScopes = []int{10, 50, 200}

func budgetYears(scopes int) int { return 10 * scopes }

// TestTenantBudget simulates, for tenants of 10, 50 and 200 scopes at 50
// and 500 responses a day, a scope's false alarms over ten tenant-years
// and the delay to detect a step to odds ratio 3 (100 trials), with the
// threshold's budget term for that many scopes. docs/alerts.md target: at
// most FalseAlarmsPerYear (1) false alarm per tenant-year, counting each
// scope's alarms as independent (scopes that share answers alarm
// together, so a real tenant has fewer). The delays are measured, not
// asserted: the budget's cost, stated in docs/alerts.md.
func TestTenantBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 15,600 scope-years")
	}
	seed := testseed.Or(t, 20261122)
	type result struct {
		c      simCell
		scopes int
		fa, d3 float64
		det3   float64
	}
	var jobs []result
	for _, c := range simCells {
		if c.perDay < 50 {
			continue // never near the budget: see the per-scope table
		}
		for _, n := range budgetScopes {
			jobs = append(jobs, result{c: c, scopes: n})
		}
	}
	// Two at a time: the cells are independent.
	sem := make(chan struct{}, 2)
	done := make(chan struct{})
	for i := range jobs {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem; done <- struct{}{} }()
			j := &jobs[i]
			j.fa = float64(j.scopes) * falseAlarms(seed, j.c, j.scopes, budgetYears(j.scopes))
			j.d3, j.det3 = delays(seed, j.c, 3, j.scopes, 100)
		}()
	}
	for range jobs {
		<-done
	}
	var table strings.Builder
	table.WriteString("| responses/day | baseline share |")
	for _, n := range budgetScopes {
		fmt.Fprintf(&table, " S = %d: false alarms per tenant-year | S = %d: median delay OR 3 |", n, n)
	}
	table.WriteString("\n| --- | --- |" + strings.Repeat(" --- | --- |", len(budgetScopes)) + "\n")
	for i, j := range jobs {
		if j.fa > DefaultParams.FalseAlarmsPerYear {
			t.Errorf("%.0f/day at %.0f %%, %d scopes: %.2f false alarms per tenant-year, want ≤ %.0f", j.c.perDay, 100*j.c.share, j.scopes, j.fa, DefaultParams.FalseAlarmsPerYear)
		}
		if i%len(budgetScopes) == 0 {
			fmt.Fprintf(&table, "| %.0f | %.0f %% |", j.c.perDay, 100*j.c.share)
		}
		fmt.Fprintf(&table, " %.2f | %s |", j.fa, fmtDelay(j.d3, j.det3))
		if i%len(budgetScopes) == len(budgetScopes)-1 {
			table.WriteString("\n")
		}
	}
	t.Logf("seed %d\n%s", seed, table.String())
}
