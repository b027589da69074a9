package api

import (
	"fmt"
	"net/http"
	"net/url"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/serve"
)

// handleErase erases a customer (DELETE /v1/tenants/{tenant}/customers/{id})
// and answers the receipt.
func (s *Server) handleErase(w http.ResponseWriter, r *http.Request) {
	tenant, customer := chi.URLParam(r, "tenant"), chi.URLParam(r, "customer")
	if r.URL.RawPath != "" {
		// The route matched the escaped path: the id is still escaped.
		var err error
		if customer, err = url.PathUnescape(customer); err != nil {
			serve.Error(w, http.StatusBadRequest, fmt.Errorf("customer_id: %w", err))
			return
		}
	}
	if n := utf8.RuneCountInString(customer); n == 0 || n > 128 {
		serve.Error(w, http.StatusBadRequest, fmt.Errorf("customer_id: must be 1–128 characters, has %d", n))
		return
	}
	if _, known := s.parts.Tenants.Get(tenant); !known {
		serve.Error(w, http.StatusNotFound, fmt.Errorf("tenant %s: not in the tenants file", tenant))
		return
	}
	rec, err := s.parts.Erase(r.Context(), tenant, customer)
	if err != nil {
		s.log.Error("erasing a customer failed; it can be run again", zap.String("tenant", tenant), zap.Error(err))
		serve.Error(w, http.StatusServiceUnavailable, fmt.Errorf("erasing customer: %w (run it again: an erasure completes or changes nothing)", err))
		return
	}
	serve.JSON(w, http.StatusOK, rec)
}
