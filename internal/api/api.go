// Package api is cxpulse's read side: the HTTP API of the aggregator
// (scores, scopes, leaderboard, series, advocates, alerts, tenants, the
// live stream, status and probes) and the dashboard, over the store and
// the partition claims. It only reads: applying events is left to the
// pipeline, publishing to package publish.
package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/auth"
	"github.com/cxpulse/cxpulse/internal/claims"
	"github.com/cxpulse/cxpulse/internal/erasure"
	"github.com/cxpulse/cxpulse/internal/kafkaconn"
	"github.com/cxpulse/cxpulse/internal/outbox"
	"github.com/cxpulse/cxpulse/internal/redisconn"
	"github.com/cxpulse/cxpulse/internal/serve"
	"github.com/cxpulse/cxpulse/internal/store/query"
	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/scores"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// Config is what the read side needs to know of the aggregator's settings.
type Config struct {
	GroupID     string
	TopicPrefix string
	// Windows are the rolling windows, shortest first.
	Windows []window.Window
	// DebugPprof serves Go's profiler under /debug/pprof.
	DebugPprof bool
	// ProtectOps asks for a key with the read scope on /v1/status and
	// /metrics.
	ProtectOps bool
	// ScoreMetrics exports cxpulse_score for the scope all of at most this
	// many tenants; 0: none.
	ScoreMetrics int
	// Topics are the topics the group consumes (the input topics when
	// empty); RouterGroup the routers' group when routing by tenant.
	Topics      []string
	RouterGroup string
}

// Parts are the connections and registries the read side works with.
type Parts struct {
	Kafka  *kafkaconn.Config
	Admin  *kafka.Client // answers metadata and offset requests
	Redis  redis.UniversalClient
	Store  *query.Reader // the read side reads; it never writes the store
	Outbox *outbox.Outbox
	Claims *claims.Claims
	Auth   *auth.Authenticator
	// Tenants gives each tenant's time zone and calendar.
	Tenants *tenants.Registry
	// Halted lists the partitions this instance halted, with the reason.
	Halted func() map[string]string
	// Erase erases a customer of a tenant (package erasure).
	Erase func(ctx context.Context, tenant, customer string) (erasure.Receipt, error)
	// Registry is served on /metrics and receives the read side's metrics.
	Registry *prometheus.Registry
	// Now is the clock that decides windows.
	Now func() time.Time
}

// Server serves the read API.
type Server struct {
	cfg       Config
	parts     Parts
	log       *zap.Logger
	store     *query.Reader
	now       func() time.Time
	largest   window.Window
	lag       prometheus.Gauge
	lagGauges *lagGauges
	hub       *hub
	// stopping is closed when Run's context ends, to end open streams.
	stopping chan struct{}
}

// New returns the read side; Run starts its stream relay.
func New(cfg Config, parts Parts, logger *zap.Logger) *Server {
	s := &Server{cfg: cfg, parts: parts, log: logger.With(zap.String("component", "api")), store: parts.Store,
		now: parts.Now, largest: cfg.Windows[len(cfg.Windows)-1], hub: newHub(), stopping: make(chan struct{}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cxpulse_lag", Help: "Messages produced but not yet applied, over every input partition (as of the last /v1/status).",
		})}
	parts.Registry.MustRegister(s.lag)
	s.lagGauges = newLagGauges(parts.Registry)
	if cfg.ScoreMetrics > 0 {
		s.registerScoreGauges(parts.Registry, cfg.ScoreMetrics)
	}
	return s
}

// Run relays score and alert changes to stream clients and keeps the lag
// gauges up to date until ctx ends, then ends the open streams.
func (s *Server) Run(ctx context.Context) error {
	defer close(s.stopping)
	go s.watchLag(ctx)
	return s.relay(ctx)
}

// Handler returns the aggregator's HTTP routes.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	reg := s.parts.Registry
	r.Get("/healthz", serve.Healthz)
	r.Get("/readyz", serve.Readyz(s.ready))
	ops := r.With()
	if s.cfg.ProtectOps {
		ops = r.With(s.parts.Auth.Require(auth.ScopeRead, serve.Error))
	}
	ops.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	ops.Get("/v1/status", s.handleStatus)
	r.Get("/", handleDashboard)
	r.Method(http.MethodGet, "/assets/*", dashboardFS())
	r.With(s.parts.Auth.Require(auth.ScopeRead, serve.Error)).Get("/v1/tenants", s.handleTenants)
	if s.cfg.DebugPprof {
		r.Mount("/debug", middleware.Profiler())
	}
	r.Route("/v1/tenants/{tenant}", func(r chi.Router) {
		// Only the stream takes the key as ?token= too: browsers'
		// EventSource cannot send headers.
		r.With(s.parts.Auth.RequireStream(auth.ScopeRead, serve.Error), tenantAllowed).Get("/stream", s.handleStream)
		r.With(s.parts.Auth.Require(auth.ScopeErase, serve.Error), tenantAllowed).Delete("/customers/{customer}", s.handleErase)
		r.Group(func(r chi.Router) {
			r.Use(s.parts.Auth.Require(auth.ScopeRead, serve.Error), tenantAllowed)
			r.Get("/scores", s.handleScores)
			r.Get("/scopes", s.handleScopes)
			r.Get("/advocates", s.handleAdvocates)
			r.Get("/alerts", s.handleAlerts)
			r.Get("/leaderboard", s.handleLeaderboard)
			r.Get("/series", s.handleSeries)
			r.Get("/periods", s.handlePeriods)
			r.Get("/themes", s.handleThemes)
		})
	})
	return r
}

// tenantAllowed answers 403 when the key is for another tenant.
func tenantAllowed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := chi.URLParam(r, "tenant")
		if !events.ValidTenant(t) {
			serve.Error(w, http.StatusBadRequest, fmt.Errorf("tenant: %q is not a tenant name", t))
			return
		}
		if p := auth.FromContext(r.Context()); !p.Allows(t) {
			serve.Error(w, http.StatusForbidden, fmt.Errorf("the API key is for tenant %s, not %s", p.Tenant, t))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) ready(ctx context.Context) error {
	if err := s.parts.Redis.Ping(ctx).Err(); err != nil {
		if why := redisconn.Explain(err); why != "" {
			return errors.New(why) // a refusal retrying will not mend, named
		}
		return fmt.Errorf("redis unreachable: %w", err)
	}
	if err := s.parts.Kafka.Reachable(ctx, 2*time.Second); err != nil {
		return err
	}
	if h := s.parts.Halted(); len(h) > 0 {
		var parts []string
		for p, why := range h {
			parts = append(parts, p+": "+why)
		}
		sort.Strings(parts)
		return fmt.Errorf("halted partitions: %s", strings.Join(parts, "; "))
	}
	return nil
}

func (s *Server) handleScores(w http.ResponseWriter, r *http.Request) {
	tenant := chi.URLParam(r, "tenant")
	scope := r.URL.Query().Get("scope")
	if scope == "" {
		scope = "all"
	}
	view, err := s.store.View(r.Context(), tenant, scope)
	if err != nil {
		serve.Error(w, http.StatusServiceUnavailable, fmt.Errorf("reading scores: %w", err))
		return
	}
	if len(view) == 0 {
		serve.Error(w, http.StatusNotFound, fmt.Errorf("no scores for tenant %s, scope %s", tenant, scope))
		return
	}
	serve.JSON(w, http.StatusOK, scores.FromHash(tenant, scope, view))
}

// Advocate is a referrer and the conversions credited to them.
type Advocate struct {
	ReferrerID  string `json:"referrer_id"`
	Conversions int64  `json:"conversions"`
}

// AdvocateList is the answer of /advocates.
type AdvocateList struct {
	Tenant    string     `json:"tenant"`
	Window    string     `json:"window"`
	Advocates []Advocate `json:"advocates"`
}

// handleAdvocates ranks referrers by the referral conversions in a window
// (default: the largest), most first, ties by referrer id.
func (s *Server) handleAdvocates(w http.ResponseWriter, r *http.Request) {
	tenant := chi.URLParam(r, "tenant")
	win, ok := s.windowParam(w, r, s.largest)
	if !ok {
		return
	}
	limit, ok := intParam(w, r, "limit", 100, 1, 1000)
	if !ok {
		return
	}
	byReferrer, err := s.store.ConversionsByReferrer(r.Context(), tenant, win.Begins(s.now()).UnixMilli())
	if err != nil {
		serve.Error(w, http.StatusServiceUnavailable, fmt.Errorf("reading advocates: %w", err))
		return
	}
	list := make([]Advocate, 0, len(byReferrer))
	for ref, n := range byReferrer {
		list = append(list, Advocate{ReferrerID: ref, Conversions: n})
	}
	slices.SortFunc(list, func(a, b Advocate) int {
		if c := cmp.Compare(b.Conversions, a.Conversions); c != 0 {
			return c
		}
		return strings.Compare(a.ReferrerID, b.ReferrerID)
	})
	serve.JSON(w, http.StatusOK, AdvocateList{Tenant: tenant, Window: win.Name, Advocates: list[:min(limit, len(list))]})
}

// AlertList is the answer of /alerts.
type AlertList struct {
	Tenant string          `json:"tenant"`
	State  string          `json:"state"`
	Alerts []*alerts.Alert `json:"alerts"`
}

// handleAlerts lists a tenant's alerts in a state (firing by default;
// pending, resolved or all), most recent first.
func (s *Server) handleAlerts(w http.ResponseWriter, r *http.Request) {
	tenant := chi.URLParam(r, "tenant")
	state := r.URL.Query().Get("state")
	if state == "" {
		state = alerts.Firing
	}
	if !slices.Contains([]string{alerts.Firing, alerts.Pending, alerts.Resolved, "all"}, state) {
		serve.Error(w, http.StatusBadRequest, fmt.Errorf("state: %q is not one of firing, pending, resolved, all", state))
		return
	}
	raw, err := s.parts.Outbox.AlertStates(r.Context(), tenant)
	if err != nil {
		serve.Error(w, http.StatusServiceUnavailable, fmt.Errorf("reading alerts: %w", err))
		return
	}
	out := AlertList{Tenant: tenant, State: state, Alerts: []*alerts.Alert{}}
	for _, js := range raw {
		al := &alerts.Alert{}
		if json.Unmarshal([]byte(js), al) != nil || (state != "all" && al.State != state) {
			continue
		}
		out.Alerts = append(out.Alerts, al)
	}
	slices.SortFunc(out.Alerts, func(x, y *alerts.Alert) int {
		if c := y.ActiveAt.Compare(x.ActiveAt); c != 0 {
			return c
		}
		return strings.Compare(x.Fingerprint, y.Fingerprint)
	})
	serve.JSON(w, http.StatusOK, out)
}
