package serve

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/cors"
)

// The limits every cxpulse server keeps.
const (
	// MaxHeaderBytes bounds a request's header lines.
	MaxHeaderBytes = 32 << 10
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout = 30 * time.Second
	// WriteTimeout bounds writing an answer; a stream lifts it for itself
	// (NoWriteDeadline).
	WriteTimeout = time.Minute
	// IdleTimeout closes kept-alive connections left unused.
	IdleTimeout = 2 * time.Minute
)

// APIPolicy is the Content-Security-Policy of every answer that is not a
// page: nothing in it may load or frame anything.
const APIPolicy = "default-src 'none'; frame-ancestors 'none'"

// PagePolicy is the Content-Security-Policy of the dashboard: its own
// scripts, styles and API only, no inline script, never framed.
const PagePolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Hardening is how Harden wraps a service's routes.
type Hardening struct {
	// BodyBytes is the largest request body any endpoint reads.
	BodyBytes int64
	// Origins may call the API from a browser (CORS); none when empty.
	Origins []string
	// Methods are the methods those origins may use.
	Methods []string
}

// Harden wraps h with the security headers every answer carries (a page
// handler replaces the policy with PagePolicy), a cap on request bodies
// and, when origins are configured, CORS for them alone. When h is a chi
// router, the result still lists its routes (chi.Walk).
func Harden(h http.Handler, o Hardening) http.Handler {
	wrapped := harden(h, o)
	if r, ok := h.(chi.Routes); ok {
		return routed{Handler: wrapped, r: r}
	}
	return wrapped
}

// routed is a hardened chi router that still answers for its routes.
type routed struct {
	http.Handler
	r chi.Routes
}

func (h routed) Routes() []chi.Route                     { return h.r.Routes() }
func (h routed) Middlewares() chi.Middlewares            { return h.r.Middlewares() }
func (h routed) Match(c *chi.Context, m, p string) bool  { return h.r.Match(c, m, p) }
func (h routed) Find(c *chi.Context, m, p string) string { return h.r.Find(c, m, p) }

func harden(h http.Handler, o Hardening) http.Handler {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Content-Security-Policy", APIPolicy)
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, o.BodyBytes)
		}
		h.ServeHTTP(w, r)
	})
	if len(o.Origins) == 0 {
		return next
	}
	return cors.Handler(cors.Options{
		AllowedOrigins: o.Origins,
		AllowedMethods: o.Methods,
		AllowedHeaders: []string{"Authorization", "Content-Type", "Last-Event-ID"},
		ExposedHeaders: []string{"Retry-After"},
		MaxAge:         300,
	})(next)
}

// NoWriteDeadline lifts the write timeout for a long-lived answer (a
// server-sent event stream).
func NoWriteDeadline(w http.ResponseWriter) error {
	return http.NewResponseController(w).SetWriteDeadline(time.Time{})
}
