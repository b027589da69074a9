package api

import (
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/serve"
	"github.com/cxpulse/cxpulse/internal/store/query"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// themeTerms is how many terms a themes answer names at most.
const themeTerms = 10

// ThemeList is the answer of /themes: the terms a scope's detractors use
// more than the rest of the tenant's NPS respondents in a window.
type ThemeList struct {
	Tenant string `json:"tenant"`
	Scope  string `json:"scope"`
	Window string `json:"window"`
	Group  string `json:"group"`
	// Comments is the number of the scope's detractor comments in the
	// window (those that left at least one term).
	Comments int64         `json:"comments"`
	Terms    []alerts.Term `json:"terms"`
}

// handleThemes ranks the terms of a scope's detractor comments in a
// rolling window against the rest of the tenant's NPS comments of the same
// window, by the weighted log-odds with the tenant's comments as the prior
// (docs/alerts.md). Without window=, the largest configured window the
// theme buckets hold.
func (s *Server) handleThemes(w http.ResponseWriter, r *http.Request) {
	tenant := chi.URLParam(r, "tenant")
	if r.URL.Query().Has("period") {
		serve.Error(w, http.StatusBadRequest, fmt.Errorf("period: theme terms are kept by UTC hour and day, not by calendar period; ask for a window"))
		return
	}
	scope := r.URL.Query().Get("scope")
	if scope == "" {
		scope = "all"
	}
	win, ok := s.windowParam(w, r, s.themeWindow())
	if !ok {
		return
	}
	buckets, err := query.ThemeBuckets(win.Length, s.now())
	if err != nil {
		serve.Error(w, http.StatusBadRequest, fmt.Errorf("window: %w", err))
		return
	}
	th, err := s.store.Themes(r.Context(), tenant, scope, buckets)
	if err != nil {
		serve.Error(w, http.StatusServiceUnavailable, fmt.Errorf("reading themes: %w", err))
		return
	}
	terms := alerts.TopTerms(th.Detractors, th.Rest, th.Tenant, themeTerms)
	if terms == nil {
		terms = []alerts.Term{}
	}
	serve.JSON(w, http.StatusOK, ThemeList{Tenant: tenant, Scope: scope, Window: win.Name, Group: "detractors",
		Comments: th.Comments, Terms: terms})
}

// themeWindow is the default window of /themes: the largest configured
// window the day buckets hold, else the shortest.
func (s *Server) themeWindow() window.Window {
	ws := s.cfg.Windows
	for i := len(ws) - 1; i >= 0; i-- {
		if ws[i].Length <= query.ThemesKept {
			return ws[i]
		}
	}
	return ws[0]
}
