package aggregate

import (
	"cmp"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/serve"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// rankable are the metrics a leaderboard ranks by, with what their
// confidence bound is: Wilson for shares, the normal bound for NPS and
// means (with pseudo-answers, see ranked).
var rankable = []string{"nps", "detractor_share", "csat", "csat_mean", "ces", "ces_easy_share"}

// ranked returns a metric's value, its 95 % bound on the side that matters
// for the order (lower when higher ranks first, upper otherwise) and the
// responses behind it; ok is false without responses.
func ranked(metric string, c *store.Counters, desc bool) (value, bound, n float64, ok bool) {
	share := func(k, total store.Counter) (float64, float64, float64, bool) {
		if c[total] == 0 {
			return 0, 0, 0, false
		}
		lo, hi := alerts.Wilson(int64(c[k]), int64(c[total]))
		b := hi
		if desc {
			b = lo
		}
		return 100 * c[k] / c[total], 100 * b, c[total], true
	}
	// Means: the bound counts two pseudo-answers, the scale's lowest and
	// highest, so a few identical answers do not make a certain mean.
	mean := func(sum, sq, total store.Counter, lo, hi float64) (float64, float64, float64, bool) {
		n := c[total]
		if n == 0 {
			return 0, 0, 0, false
		}
		n2 := n + 2
		m2 := (c[sum] + lo + hi) / n2
		v2 := max(0, (c[sq]+lo*lo+hi*hi-n2*m2*m2)/(n2-1))
		half := 1.96 * math.Sqrt(v2/n2)
		if desc {
			return c[sum] / n, m2 - half, n, true
		}
		return c[sum] / n, m2 + half, n, true
	}
	switch metric {
	case "nps":
		// The bound counts one pseudo-response of each kind (promoter,
		// passive, detractor), so four promoters out of four do not make a
		// certain 100.
		n := c[store.NPSResponses]
		if n == 0 {
			return 0, 0, 0, false
		}
		v := 100 * (c[store.NPSPromoters] - c[store.NPSDetractors]) / n
		n3 := n + 3
		P, D := (c[store.NPSPromoters]+1)/n3, (c[store.NPSDetractors]+1)/n3
		v3, moe := 100*(P-D), 1.96*100*math.Sqrt(max(0, ((P+D)-(P-D)*(P-D))/n3))
		if desc {
			return v, v3 - moe, n, true
		}
		return v, v3 + moe, n, true
	case "detractor_share":
		return share(store.NPSDetractors, store.NPSResponses)
	case "csat":
		return share(store.CSATSatisfied, store.CSATResponses)
	case "ces_easy_share":
		return share(store.CESEasy, store.CESResponses)
	case "csat_mean":
		return mean(store.CSATSum, store.CSATSumSq, store.CSATResponses, 1, 5)
	case "ces":
		return mean(store.CESSum, store.CESSumSq, store.CESResponses, 1, 7)
	}
	return 0, 0, 0, false
}

// LeaderboardEntry is one ranked scope.
type LeaderboardEntry struct {
	Scope     string  `json:"scope"`
	Value     float64 `json:"value"`
	Bound     float64 `json:"bound"`
	Responses int64   `json:"responses"`
}

// Leaderboard is the answer of /leaderboard.
type Leaderboard struct {
	Tenant       string             `json:"tenant"`
	Dim          string             `json:"dim"`
	Metric       string             `json:"metric"`
	Window       string             `json:"window"`
	Order        string             `json:"order"`
	MinResponses int64              `json:"min_responses"`
	Entries      []LeaderboardEntry `json:"entries"`
}

// intParam reads an optional integer query parameter in [lo, hi],
// answering 400 naming it when it is not one.
func intParam(w http.ResponseWriter, r *http.Request, name string, def, lo, hi int) (int, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		serve.Error(w, http.StatusBadRequest, fmt.Errorf("%s: %q is not a number from %d to %d", name, v, lo, hi))
		return 0, false
	}
	return n, true
}

// windowParam reads the window parameter (default def).
func (a *Aggregator) windowParam(w http.ResponseWriter, r *http.Request, def window.Window) (window.Window, bool) {
	name := r.URL.Query().Get("window")
	if name == "" {
		return def, true
	}
	i := slices.IndexFunc(a.cfg.Windows, func(w window.Window) bool { return w.Name == name })
	if i < 0 {
		serve.Error(w, http.StatusBadRequest, fmt.Errorf("window: %q is not one of the configured windows %s", name, strings.Join(windowNames(a.cfg), ",")))
		return window.Window{}, false
	}
	return a.cfg.Windows[i], true
}

// handleLeaderboard ranks the scopes of a dimension by a confidence bound
// of a metric, so that a small sample does not top the board.
func (a *Aggregator) handleLeaderboard(w http.ResponseWriter, r *http.Request) {
	tenant := chi.URLParam(r, "tenant")
	q := r.URL.Query()
	lb := Leaderboard{Tenant: tenant, Dim: q.Get("dim"), Metric: q.Get("metric"), Order: q.Get("order"), Entries: []LeaderboardEntry{}}
	if lb.Dim == "" {
		lb.Dim = "store"
	}
	if lb.Metric == "" {
		lb.Metric = "nps"
	}
	if !slices.Contains(rankable, lb.Metric) {
		serve.Error(w, http.StatusBadRequest, fmt.Errorf("metric: %q cannot be ranked; one of %s", lb.Metric, strings.Join(rankable, ", ")))
		return
	}
	if lb.Order == "" {
		lb.Order = "desc"
	}
	if lb.Order != "desc" && lb.Order != "asc" {
		serve.Error(w, http.StatusBadRequest, fmt.Errorf("order: %q is not asc or desc", lb.Order))
		return
	}
	win, ok := a.windowParam(w, r, a.defaultWindow())
	if !ok {
		return
	}
	lb.Window = win.Name
	limit, ok := intParam(w, r, "limit", 10, 1, 1000)
	if !ok {
		return
	}
	minN, ok := intParam(w, r, "min_responses", 1, 0, math.MaxInt32)
	if !ok {
		return
	}
	lb.MinResponses = int64(minN)
	all, err := a.store.Scopes(r.Context(), tenant)
	if err != nil {
		serve.Error(w, http.StatusServiceUnavailable, fmt.Errorf("reading scopes: %w", err))
		return
	}
	var scopes []string
	for _, s := range all {
		if scopeDims(s) == lb.Dim {
			scopes = append(scopes, s)
		}
	}
	totals, err := a.store.WindowTotals(r.Context(), tenant, win.Name, scopes)
	if err != nil {
		serve.Error(w, http.StatusServiceUnavailable, err)
		return
	}
	desc := lb.Order == "desc"
	for _, s := range scopes {
		c := totals[s]
		v, b, n, ok := ranked(lb.Metric, &c, desc)
		if !ok || int64(n) < lb.MinResponses {
			continue
		}
		lb.Entries = append(lb.Entries, LeaderboardEntry{Scope: s, Value: v, Bound: b, Responses: int64(n)})
	}
	slices.SortFunc(lb.Entries, func(x, y LeaderboardEntry) int {
		c := cmp.Compare(x.Bound, y.Bound)
		if desc {
			c = -c
		}
		if c != 0 {
			return c
		}
		return cmp.Compare(x.Scope, y.Scope)
	})
	lb.Entries = lb.Entries[:min(limit, len(lb.Entries))]
	serve.JSON(w, http.StatusOK, lb)
}

// defaultWindow is the 7d window when configured, else the largest.
func (a *Aggregator) defaultWindow() window.Window {
	for _, w := range a.cfg.Windows {
		if w.Name == "7d" {
			return w
		}
	}
	return a.largest
}

// Point is one bucket of a series; Value is null where the stat is not
// defined (a ratio over nothing).
type Point struct {
	Start time.Time `json:"start"`
	Value *float64  `json:"value"`
}

// Series is the answer of /series.
type Series struct {
	Tenant        string  `json:"tenant"`
	Scope         string  `json:"scope"`
	Metric        string  `json:"metric"`
	Window        string  `json:"window"`
	BucketSeconds int64   `json:"bucket_seconds"`
	Points        []Point `json:"points"`
}

// handleSeries returns a window's buckets of one scope as a time series of
// one stat, oldest first, up to the bucket holding now.
func (a *Aggregator) handleSeries(w http.ResponseWriter, r *http.Request) {
	tenant := chi.URLParam(r, "tenant")
	q := r.URL.Query()
	s := Series{Tenant: tenant, Scope: q.Get("scope"), Metric: q.Get("metric"), Points: []Point{}}
	if s.Scope == "" {
		s.Scope = "all"
	}
	if s.Metric == "" {
		s.Metric = "nps"
	}
	var empty store.Counters
	if _, ok := store.Stats(&empty)[s.Metric]; !ok && !slices.Contains(ratioStats, s.Metric) {
		serve.Error(w, http.StatusBadRequest, fmt.Errorf("metric: %q has no series (the stats of a bucket's counters do; customer-state stats do not)", s.Metric))
		return
	}
	win, ok := a.windowParam(w, r, a.cfg.Windows[min(1, len(a.cfg.Windows)-1)])
	if !ok {
		return
	}
	s.Window, s.BucketSeconds = win.Name, int64(win.Bucket/time.Second)
	now := a.now()
	first, _ := win.Span(now)
	var buckets []int64
	for b := first; b <= win.Index(now); b++ {
		buckets = append(buckets, b)
	}
	got, err := a.store.Buckets(r.Context(), tenant, s.Scope, win.Name, buckets)
	if err != nil {
		serve.Error(w, http.StatusServiceUnavailable, err)
		return
	}
	for _, b := range buckets {
		c := got[b]
		p := Point{Start: win.Start(b)}
		if v, ok := store.Stats(&c)[s.Metric]; ok {
			p.Value = &v
		}
		s.Points = append(s.Points, p)
	}
	serve.JSON(w, http.StatusOK, s)
}

// ratioStats are the series stats that an empty bucket leaves undefined.
var ratioStats = []string{"nps", "nps_moe95", "detractor_share", "csat", "csat_mean", "ces", "ces_easy_share",
	"ticket_first_response_avg_s", "ticket_handle_avg_s", "ticket_reopen_rate", "atv",
	"referral_conversion_rate", "referral_new_customer_share"}
