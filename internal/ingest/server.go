// Package ingest is the HTTP front door of cxpulse: it authenticates each
// request, decodes and validates its events strictly, checks tenant
// settings and rate limits, and writes the events to their Kafka topics
// with acks=all. A request is all-or-nothing for validation; aggregation is
// left to the aggregator.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/auth"
	"github.com/cxpulse/cxpulse/internal/serve"
	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/internal/timerule"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// kafkaRetryAfter is what a client is told to wait when Kafka is down.
const kafkaRetryAfter = 5 * time.Second

// EventError is one event's problem in a 400 or 403 answer.
type EventError struct {
	Index  int    `json:"index"`
	ID     string `json:"id,omitempty"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// EventErrors is the body of a 400 or 403 answer about events.
type EventErrors struct {
	Errors []EventError `json:"errors"`
}

// Accepted is the body of a 202 answer.
type Accepted struct {
	Accepted int `json:"accepted"`
}

// PartlyAccepted is the body of a 207 answer to ?partial=true: how many
// events went on, how many were rejected, and why, by index.
type PartlyAccepted struct {
	Accepted int          `json:"accepted"`
	Rejected int          `json:"rejected"`
	Errors   []EventError `json:"errors"`
}

// Server is the ingest HTTP API.
type Server struct {
	cfg      Config
	log      *zap.Logger
	producer *events.Producer
	writer   *kafka.Writer
	auth     *auth.Authenticator
	tenants  *tenants.Registry
	times    *timerule.Rule
	limits   *limiter
	now      func() time.Time
	metrics  *metrics
	handler  http.Handler
}

// Option adjusts a Server.
type Option func(*Server)

// WithClock sets the clock used by the rate limiter (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// New builds the ingest server: it loads the keys and tenants files named
// in cfg and connects a Kafka writer lazily.
func New(cfg Config, logger *zap.Logger, opts ...Option) (*Server, error) {
	s := &Server{cfg: cfg, log: logger.With(zap.String("component", "ingest")), now: time.Now}
	for _, o := range opts {
		o(s)
	}
	var keys *auth.Keys
	if cfg.APIKeysFile != "" {
		var err error
		if keys, err = auth.Load(cfg.APIKeysFile); err != nil {
			return nil, err
		}
	} else {
		s.log.Warn("authentication is OFF (CXPULSE_INSECURE_NO_AUTH=1): anyone reaching this port can write events for any tenant")
	}
	reg, err := tenants.Load(cfg.TenantsFile)
	if err != nil {
		return nil, err
	}
	s.tenants = reg
	ws := cfg.Windows
	if len(ws) == 0 {
		if ws, err = window.Parse(window.DefaultSpec); err != nil {
			return nil, err
		}
	}
	s.times = timerule.New(reg, ws[len(ws)-1])
	s.auth = auth.NewAuthenticator(keys)
	s.limits = newLimiter(cfg.RateLimit, cfg.RateBurst)
	s.writer = cfg.Kafka.Writer()
	s.producer = events.NewProducer(s.writer, cfg.TopicPrefix)

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.auth.Register(registry)
	serve.RegisterBuildInfo(registry)
	s.metrics = newMetrics(registry)
	s.auth.OnReject = func(status int) { s.metrics.reject(authReason(status)) }

	r := chi.NewRouter()
	r.Get("/healthz", serve.Healthz)
	r.Get("/readyz", serve.Readyz(s.kafkaReachable))
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{Registry: registry}))
	r.With(s.metrics.instrument, s.auth.Require(auth.ScopeWrite, serve.Error)).Post("/v1/events", s.handleEvents)
	s.handler = serve.Harden(r, serve.Hardening{BodyBytes: MaxBodyBytes, Origins: cfg.CORSOrigins, Methods: []string{http.MethodPost}})
	return s, nil
}

// Handler returns the HTTP handler of the API.
func (s *Server) Handler() http.Handler { return s.handler }

// Close flushes and closes the Kafka writer.
func (s *Server) Close() error { return s.producer.Close() }

func (s *Server) kafkaReachable(ctx context.Context) error {
	return s.cfg.Kafka.Reachable(ctx, 2*time.Second)
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.metrics.reject("too_large")
			serve.Error(w, http.StatusRequestEntityTooLarge, fmt.Errorf("the body is larger than %d bytes", MaxBodyBytes))
			return
		}
		serve.Error(w, http.StatusBadRequest, fmt.Errorf("reading the body: %w", err))
		return
	}
	items, ceErrs, isCE, err := cloudEvents(r.Header, body)
	if !isCE && err == nil {
		items, err = splitBody(body, r.Header.Get("Content-Type"))
	}
	if err != nil {
		if errors.Is(err, errTooManyEvents) {
			s.metrics.reject("too_many_events")
			serve.Error(w, http.StatusRequestEntityTooLarge, err)
			return
		}
		s.metrics.reject("malformed")
		serve.Error(w, http.StatusBadRequest, err)
		return
	}

	if len(ceErrs) > 0 {
		s.metrics.reject("invalid")
		serve.JSON(w, http.StatusBadRequest, EventErrors{Errors: ceErrs})
		return
	}
	evs, invalid := s.decode(items)
	if forbidden := s.forbidden(auth.FromContext(r.Context()), evs, invalid); len(forbidden) > 0 {
		s.metrics.reject("forbidden_tenant")
		if isCE {
			forbidden = asCloudEventFields(forbidden)
		}
		serve.JSON(w, http.StatusForbidden, EventErrors{Errors: forbidden})
		return
	}
	invalid = append(invalid, s.checkTenants(evs, invalid)...)
	slices.SortStableFunc(invalid, func(a, b EventError) int { return a.Index - b.Index })
	if isCE {
		invalid = asCloudEventFields(invalid)
	}
	partial := r.URL.Query().Get("partial") == "true"
	if len(invalid) > 0 && !partial {
		s.metrics.reject("invalid")
		serve.JSON(w, http.StatusBadRequest, EventErrors{Errors: invalid})
		return
	}
	if len(invalid) > 0 {
		// ?partial=true: the valid events go on, the others are answered
		// by index.
		s.metrics.rejectN("invalid", countIndexes(invalid))
		bad := map[int]bool{}
		for _, e := range invalid {
			bad[e.Index] = true
		}
		kept := evs[:0:0]
		for i := range evs {
			if !bad[i] {
				kept = append(kept, evs[i])
			}
		}
		evs = kept
	}

	counts := map[string]int{}
	for i := range evs {
		counts[evs[i].Tenant]++
		// A tenant with pseudonymize_customer_ids gets keyed hashes in
		// place of customer ids before anything reaches Kafka.
		t, _ := s.tenants.Get(evs[i].Tenant)
		t.Pseudonymize(&evs[i])
	}
	if wait, ok := s.limits.take(s.now(), counts); !ok {
		s.metrics.reject("rate_limited")
		serve.RetryAfter(w, wait)
		serve.Error(w, http.StatusTooManyRequests, fmt.Errorf("rate limit of %v events/s per tenant exceeded; retry after %s", s.cfg.RateLimit, wait.Round(time.Second)))
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.WriteTimeout)
	defer cancel()
	if err := s.producer.Send(ctx, evs...); err != nil {
		s.log.Warn("kafka write failed", zap.Int("events", len(evs)), zap.Error(err))
		s.metrics.reject("kafka_unavailable")
		serve.RetryAfter(w, kafkaRetryAfter)
		serve.Error(w, http.StatusServiceUnavailable, errors.New("kafka did not acknowledge every event; retry the whole request (events are deduplicated by tenant and id)"))
		return
	}
	for i := range evs {
		s.metrics.accepted.WithLabelValues(evs[i].Topic(s.cfg.TopicPrefix)).Inc()
	}
	if partial {
		serve.JSON(w, http.StatusMultiStatus, PartlyAccepted{Accepted: len(evs), Rejected: countIndexes(invalid), Errors: invalid})
		return
	}
	serve.JSON(w, http.StatusAccepted, Accepted{Accepted: len(evs)})
}

// countIndexes counts the events errs are about.
func countIndexes(errs []EventError) int {
	seen := map[int]bool{}
	for _, e := range errs {
		seen[e.Index] = true
	}
	return len(seen)
}

// decode decodes every item strictly and lists each problem.
func (s *Server) decode(items [][]byte) ([]events.Event, []EventError) {
	d := events.NewDecoder(events.Strict)
	evs := make([]events.Event, len(items))
	var errs []EventError
	for i, item := range items {
		ev, _, err := d.Decode(item)
		evs[i] = ev
		var verr *events.ValidationError
		switch {
		case err == nil:
		case errors.As(err, &verr):
			for _, p := range verr.Problems {
				errs = append(errs, EventError{Index: i, ID: ev.ID, Field: p.Field, Reason: p.Reason})
			}
		default:
			errs = append(errs, EventError{Index: i, Reason: err.Error()})
		}
	}
	return evs, errs
}

// forbidden lists the events whose well-formed tenant the key may not write
// (a malformed tenant is a validation problem, answered with 400).
func (s *Server) forbidden(p auth.Principal, evs []events.Event, invalid []EventError) []EventError {
	var errs []EventError
	for i := range evs {
		ev := &evs[i]
		if !events.ValidTenant(ev.Tenant) || hasProblem(invalid, i, "tenant") {
			continue
		}
		if !p.Allows(ev.Tenant) {
			errs = append(errs, EventError{Index: i, ID: ev.ID, Field: "tenant",
				Reason: fmt.Sprintf("the API key is for tenant %s, not %s", p.Tenant, ev.Tenant)})
		}
	}
	return errs
}

func hasProblem(errs []EventError, index int, field string) bool {
	for _, e := range errs {
		if e.Index == index && e.Field == field {
			return true
		}
	}
	return false
}

// checkTenants applies the tenants file to the events without a problem
// yet: the tenant must be listed (when a file is loaded), a purchase's
// currency must be the tenant's, and its time must still count in some
// window or calendar period of the tenant (the aggregator's time rule).
func (s *Server) checkTenants(evs []events.Event, invalid []EventError) []EventError {
	var errs []EventError
	bad := map[int]bool{}
	for _, e := range invalid {
		bad[e.Index] = true
	}
	now := s.now()
	for i := range evs {
		ev := &evs[i]
		if ev.Tenant == "" || bad[i] {
			continue
		}
		if _, detail := s.times.Check(ev, now); detail != "" {
			field, reason, _ := strings.Cut(detail, ": ")
			errs = append(errs, EventError{Index: i, ID: ev.ID, Field: field, Reason: reason})
			continue
		}
		t, known := s.tenants.Get(ev.Tenant)
		if !known {
			errs = append(errs, EventError{Index: i, ID: ev.ID, Field: "tenant", Reason: fmt.Sprintf("unknown tenant %q", ev.Tenant)})
			continue
		}
		if why := t.CurrencyProblem(ev.Tenant, ev); why != "" {
			errs = append(errs, EventError{Index: i, ID: ev.ID, Field: tenants.CurrencyField, Reason: why})
		}
	}
	return errs
}

func authReason(status int) string {
	if status == http.StatusUnauthorized {
		return "unauthorized"
	}
	return "forbidden_scope"
}

// Run serves the ingest API on cfg.HTTPAddr until ctx ends, then drains
// in-flight requests and flushes the Kafka writer, each under its deadline.
func Run(ctx context.Context, cfg Config, logger *zap.Logger) error {
	s, err := New(cfg, logger)
	if err != nil {
		return err
	}
	for _, w := range cfg.Kafka.Warnings() {
		s.log.Error(w)
	}
	// A refused login or an untrusted certificate is named and ends the
	// process: retrying would only hide it.
	if err := cfg.Kafka.Check(ctx); err != nil {
		return errors.Join(err, s.Close())
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listening on %s (CXPULSE_HTTP_ADDR): %w", cfg.HTTPAddr, err)
	}
	if cfg.APIKeysFile != "" {
		go s.auth.Watch(ctx, cfg.APIKeysFile, auth.CheckInterval, s.log)
	}
	return errors.Join(serve.Run(ctx, ln, s.Handler(), cfg.ShutdownTimeout, s.log), s.Close())
}
