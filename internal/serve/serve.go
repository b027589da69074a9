// Package serve holds the HTTP plumbing both cxpulse services share: JSON
// answers, error bodies, health endpoints and a server lifecycle that drains
// in-flight requests on shutdown. Routing and handlers are left to each
// service.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// JSON writes v as a JSON answer with the given status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// ErrorBody is the answer of every failed request that is not about
// individual events.
type ErrorBody struct {
	Error string `json:"error"`
}

// Error writes {"error": err} with the given status.
func Error(w http.ResponseWriter, status int, err error) {
	JSON(w, status, ErrorBody{Error: err.Error()})
}

// RetryAfter sets the Retry-After header to d rounded up to whole seconds
// (at least 1).
func RetryAfter(w http.ResponseWriter, d time.Duration) {
	secs := int((d + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
}

// Healthz answers 200 while the process runs.
func Healthz(w http.ResponseWriter, _ *http.Request) {
	JSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Readyz answers 200 when check passes within two seconds, else 503 with
// the reason.
func Readyz(check func(context.Context) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := check(ctx); err != nil {
			Error(w, http.StatusServiceUnavailable, err)
			return
		}
		JSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

// Run serves h on ln until ctx is done, then stops accepting connections
// and waits up to grace for in-flight requests to finish.
func Run(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration, logger *zap.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          zap.NewStdLog(logger),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("serving HTTP", zap.String("addr", ln.Addr().String()))
	select {
	case err := <-errc:
		return fmt.Errorf("serving HTTP on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("draining HTTP requests: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving HTTP: %w", err)
	}
	return nil
}
