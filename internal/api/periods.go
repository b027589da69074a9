package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cxpulse/cxpulse/internal/periodbuckets"
	"github.com/cxpulse/cxpulse/internal/serve"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// PeriodAnswer is the answer of /periods: one calendar period of a scope
// in the tenant's zone and calendar, and optionally the period it is
// compared with.
type PeriodAnswer struct {
	Tenant   string `json:"tenant"`
	Scope    string `json:"scope"`
	Timezone string `json:"timezone"`
	Calendar string `json:"calendar"`
	// Period is the canonical name (a to-date alias is named by the
	// period under way: mtd → month:2026-12).
	Period string `json:"period"`
	// ToDate is true for a period under way: To is now.
	ToDate bool               `json:"to_date"`
	From   string             `json:"from"`
	To     string             `json:"to"`
	Stats  map[string]float64 `json:"stats"`
	// Compare is the period it is compared with, when asked for.
	Compare *Comparison `json:"compare,omitempty"`
}

// Comparison is the period a PeriodAnswer is compared with: its stats,
// the difference of every stat both have (this minus compare), and for
// the stats with a two-sample test whether the difference is significant
// at 95 % (stats.Significant).
type Comparison struct {
	Period      string             `json:"period"`
	From        string             `json:"from"`
	To          string             `json:"to"`
	Stats       map[string]float64 `json:"stats"`
	Delta       map[string]float64 `json:"delta"`
	Significant map[string]bool    `json:"significant"`
}

// handlePeriods answers one calendar period of a scope, and with compare=
// previous or year_ago the period it is compared with. A period under way
// is compared over the same elapsed part: from the start of the previous
// period (or the same date a year earlier) through the same day of it and
// the same local hour (to the day where hours are no longer kept), the
// whole period when it is shorter.
func (s *Server) handlePeriods(w http.ResponseWriter, r *http.Request) {
	tenant := chi.URLParam(r, "tenant")
	q := r.URL.Query()
	scope := q.Get("scope")
	if scope == "" {
		scope = "all"
	}
	name, compare := q.Get("period"), q.Get("compare")
	if name == "" {
		serve.Error(w, http.StatusBadRequest, errors.New("period: missing (today, wtd, mtd, qtd, ytd, or day:, week:, month:, quarter:, year: in the tenant's calendar)"))
		return
	}
	if compare != "" && compare != "previous" && compare != "year_ago" {
		serve.Error(w, http.StatusBadRequest, fmt.Errorf("compare: %q is not previous or year_ago", compare))
		return
	}
	t, _ := s.parts.Tenants.Get(tenant)
	sys := t.Periods
	now := s.now()
	today := sys.Day(now)
	query, err := sys.Parse(name, today)
	if err != nil {
		serve.Error(w, http.StatusBadRequest, err)
		return
	}
	p := query.Period
	from := sys.RetainedFrom(today)
	switch {
	case p.First > today:
		serve.Error(w, http.StatusBadRequest, fmt.Errorf("period: %s has not begun (today is %s in %s)", sys.Name(p), sys.Calendar.Date(today), sys.Loc))
		return
	case p.First < from:
		serve.Error(w, http.StatusNotFound, fmt.Errorf("period: %s begins before %s, the start of the previous year, the oldest period kept", sys.Name(p), sys.Calendar.Date(from)))
		return
	}
	underWay := p.End > today
	ans := PeriodAnswer{Tenant: tenant, Scope: scope, Timezone: sys.Loc.String(), Calendar: sys.Calendar.String(),
		Period: sys.Name(p), ToDate: underWay}
	start, end := sys.Bounds(p)
	if underWay {
		end = now
	}
	ans.From, ans.To = stamp(start, sys), stamp(end, sys)
	spans := []periodbuckets.Span{periodbuckets.SpanOf(p)}
	var cmp *Comparison
	if compare != "" {
		span, cname, cfrom, cto := compareSpan(sys, p, compare, underWay, now)
		if span.From < from {
			serve.Error(w, http.StatusBadRequest, fmt.Errorf("compare: %s begins before %s, the start of the previous year, the oldest period kept", cname, sys.Calendar.Date(from)))
			return
		}
		cmp = &Comparison{Period: cname, From: stamp(cfrom, sys), To: stamp(cto, sys)}
		spans = append(spans, span)
	}
	sums, err := s.store.PeriodSums(r.Context(), tenant, scope, sys, spans)
	if err != nil {
		serve.Error(w, http.StatusServiceUnavailable, fmt.Errorf("reading periods: %w", err))
		return
	}
	ans.Stats = stats.DefinedPeriod(&sums[0])
	if cmp != nil {
		cmp.Stats = stats.DefinedPeriod(&sums[1])
		cmp.Delta = map[string]float64{}
		for k, v := range ans.Stats {
			if o, ok := cmp.Stats[k]; ok {
				cmp.Delta[k] = v - o
			}
		}
		cmp.Significant = stats.Significant(&sums[0], &sums[1])
		ans.Compare = cmp
	}
	serve.JSON(w, http.StatusOK, ans)
}

// compareSpan returns what a period is compared with: its buckets, name
// and bounds.
func compareSpan(sys period.System, p period.Period, how string, underWay bool, now time.Time) (periodbuckets.Span, string, time.Time, time.Time) {
	if !underWay {
		cp := sys.Previous(p)
		if how == "year_ago" {
			cp = sys.YearAgo(p)
		}
		f, t := sys.Bounds(cp)
		return periodbuckets.SpanOf(cp), sys.Name(cp), f, t
	}
	today := sys.Day(now)
	hour := now.In(sys.Loc).Hour()
	var cp period.Period
	var day int64 // the day of the compared period that matches today
	if how == "year_ago" {
		first := sys.DayYearAgo(p.First)
		cp = period.Period{Kind: p.Kind, First: first, End: sys.DayYearAgo(p.End-1) + 1}
		day = sys.DayYearAgo(today)
	} else {
		cp = sys.Previous(p)
		day = cp.First + (today - p.First)
	}
	if day >= cp.End {
		f, t := sys.Bounds(cp)
		return periodbuckets.SpanOf(cp), sys.Name(cp), f, t
	}
	if sys.Month(day) <= sys.Month(today)-periodbuckets.HoursKeptMonths {
		// Hours are not kept that far back: the comparison is to the day.
		return periodbuckets.Span{From: cp.First, To: day}, sys.Name(cp), sys.Start(cp.First), sys.Start(day)
	}
	return periodbuckets.Span{From: cp.First, To: day, Hours: hour}, sys.Name(cp), sys.Start(cp.First), sys.At(day, hour)
}

// stamp writes an instant in the tenant's zone (RFC 3339 with its offset).
func stamp(t time.Time, sys period.System) string { return t.In(sys.Loc).Format(time.RFC3339) }
