package api

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

	"github.com/cxpulse/cxpulse/internal/serve"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/pkg/window"
)

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
func (s *Server) windowParam(w http.ResponseWriter, r *http.Request, def window.Window) (window.Window, bool) {
	name := r.URL.Query().Get("window")
	if name == "" {
		return def, true
	}
	i := slices.IndexFunc(s.cfg.Windows, func(w window.Window) bool { return w.Name == name })
	if i < 0 {
		names := make([]string, len(s.cfg.Windows))
		for k, w := range s.cfg.Windows {
			names[k] = w.Name
		}
		serve.Error(w, http.StatusBadRequest, fmt.Errorf("window: %q is not one of the configured windows %s", name, strings.Join(names, ",")))
		return window.Window{}, false
	}
	return s.cfg.Windows[i], true
}

// handleLeaderboard ranks the scopes of a dimension by a confidence bound
// of a metric, so that a small sample does not top the board.
func (s *Server) handleLeaderboard(w http.ResponseWriter, r *http.Request) {
	tenant := chi.URLParam(r, "tenant")
	q := r.URL.Query()
	lb := Leaderboard{Tenant: tenant, Dim: q.Get("dim"), Metric: q.Get("metric"), Order: q.Get("order"), Entries: []LeaderboardEntry{}}
	if lb.Dim == "" {
		lb.Dim = "store"
	}
	if lb.Metric == "" {
		lb.Metric = "nps"
	}
	if !slices.Contains(stats.Rankable, lb.Metric) {
		serve.Error(w, http.StatusBadRequest, fmt.Errorf("metric: %q cannot be ranked; one of %s", lb.Metric, strings.Join(stats.Rankable, ", ")))
		return
	}
	if lb.Order == "" {
		lb.Order = "desc"
	}
	if lb.Order != "desc" && lb.Order != "asc" {
		serve.Error(w, http.StatusBadRequest, fmt.Errorf("order: %q is not asc or desc", lb.Order))
		return
	}
	win, ok := s.windowParam(w, r, s.defaultWindow())
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
	all, err := s.store.Scopes(r.Context(), tenant)
	if err != nil {
		serve.Error(w, http.StatusServiceUnavailable, fmt.Errorf("reading scopes: %w", err))
		return
	}
	var scopes []string
	for _, sc := range all {
		if scopeDims(sc) == lb.Dim {
			scopes = append(scopes, sc)
		}
	}
	totals, err := s.store.WindowTotals(r.Context(), tenant, win.Name, scopes)
	if err != nil {
		serve.Error(w, http.StatusServiceUnavailable, err)
		return
	}
	desc := lb.Order == "desc"
	for _, sc := range scopes {
		c := totals[sc]
		v, b, n, ok := stats.Ranked(lb.Metric, &c, desc)
		if !ok || int64(n) < lb.MinResponses {
			continue
		}
		lb.Entries = append(lb.Entries, LeaderboardEntry{Scope: sc, Value: v, Bound: b, Responses: int64(n)})
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
func (s *Server) defaultWindow() window.Window {
	for _, w := range s.cfg.Windows {
		if w.Name == "7d" {
			return w
		}
	}
	return s.largest
}

// Point is one bucket of a series; Value is null where the stat is not
// defined (a ratio over nothing).
type Point struct {
	Start time.Time `json:"start"`
	Value *float64  `json:"value"`
	// N is the number of answers an estimate (NPS, a share, a mean) rests
	// on, and MoE95 its 95 % margin of error (stats.Margin); absent for
	// other stats.
	N     *float64 `json:"n,omitempty"`
	MoE95 *float64 `json:"moe95,omitempty"`
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
func (s *Server) handleSeries(w http.ResponseWriter, r *http.Request) {
	tenant := chi.URLParam(r, "tenant")
	q := r.URL.Query()
	ser := Series{Tenant: tenant, Scope: q.Get("scope"), Metric: q.Get("metric"), Points: []Point{}}
	if ser.Scope == "" {
		ser.Scope = "all"
	}
	if ser.Metric == "" {
		ser.Metric = "nps"
	}
	if !stats.HasSeries(ser.Metric) {
		serve.Error(w, http.StatusBadRequest, fmt.Errorf("metric: %q has no series (the stats of a bucket's counters do; customer-state stats do not)", ser.Metric))
		return
	}
	win, ok := s.windowParam(w, r, s.cfg.Windows[min(1, len(s.cfg.Windows)-1)])
	if !ok {
		return
	}
	ser.Window, ser.BucketSeconds = win.Name, int64(win.Bucket/time.Second)
	now := s.now()
	first, _ := win.Span(now)
	var buckets []int64
	for b := first; b <= win.Index(now); b++ {
		buckets = append(buckets, b)
	}
	got, err := s.store.Buckets(r.Context(), tenant, ser.Scope, win.Name, buckets)
	if err != nil {
		serve.Error(w, http.StatusServiceUnavailable, err)
		return
	}
	for _, b := range buckets {
		c := got[b]
		p := Point{Start: win.Start(b)}
		if v, ok := stats.Bucket(&c)[ser.Metric]; ok {
			p.Value = &v
		}
		if n, moe, ok := stats.Margin(ser.Metric, &c); ok {
			p.N, p.MoE95 = &n, &moe
		}
		ser.Points = append(ser.Points, p)
	}
	serve.JSON(w, http.StatusOK, ser)
}
