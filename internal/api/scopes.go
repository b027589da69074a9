package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/cxpulse/cxpulse/internal/auth"
	"github.com/cxpulse/cxpulse/internal/serve"
)

// ScopeList is the answer of /scopes.
type ScopeList struct {
	Tenant string   `json:"tenant"`
	Dim    string   `json:"dim,omitempty"`
	Scopes []string `json:"scopes"`
}

func (s *Server) handleScopes(w http.ResponseWriter, r *http.Request) {
	tenant := chi.URLParam(r, "tenant")
	dim := r.URL.Query().Get("dim")
	all, err := s.store.Scopes(r.Context(), tenant)
	if err != nil {
		serve.Error(w, http.StatusServiceUnavailable, fmt.Errorf("reading scopes: %w", err))
		return
	}
	out := ScopeList{Tenant: tenant, Dim: dim, Scopes: []string{}}
	for _, sc := range all {
		if dim == "" || scopeDims(sc) == dim {
			out.Scopes = append(out.Scopes, sc)
		}
	}
	slices.Sort(out.Scopes)
	serve.JSON(w, http.StatusOK, out)
}

// scopeDims returns the dims of a scope name joined by +:
// "channel=web,region=eu" → "channel+region", "all" → "".
func scopeDims(scope string) string {
	if scope == "all" {
		return ""
	}
	var dims []string
	for part := range strings.SplitSeq(scope, ",") {
		d, _, _ := strings.Cut(part, "=")
		dims = append(dims, d)
	}
	return strings.Join(dims, "+")
}

// TenantList is the answer of /v1/tenants.
type TenantList struct {
	Tenants []string `json:"tenants"`
}

// handleTenants lists the tenants the key may read: its own, or every
// tenant with data when authentication is off.
func (s *Server) handleTenants(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	if !p.Anyone {
		serve.JSON(w, http.StatusOK, TenantList{Tenants: []string{p.Tenant}})
		return
	}
	all, err := s.store.Tenants(r.Context())
	if err != nil {
		serve.Error(w, http.StatusServiceUnavailable, fmt.Errorf("reading tenants: %w", err))
		return
	}
	slices.Sort(all)
	serve.JSON(w, http.StatusOK, TenantList{Tenants: append([]string{}, all...)})
}
