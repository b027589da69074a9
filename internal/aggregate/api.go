package aggregate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/segmentio/kafka-go"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/auth"
	"github.com/cxpulse/cxpulse/internal/serve"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// Handler returns the aggregator's HTTP routes.
func (a *Aggregator) Handler() http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", serve.Healthz)
	r.Get("/readyz", serve.Readyz(a.ready))
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(a.metrics.registry, promhttp.HandlerOpts{Registry: a.metrics.registry}))
	r.Get("/v1/status", a.handleStatus)
	r.Get("/", handleDashboard)
	r.Method(http.MethodGet, "/assets/*", dashboardFS())
	r.With(a.auth.Require(auth.ScopeRead, serve.Error)).Get("/v1/tenants", a.handleTenants)
	if a.cfg.DebugPprof {
		r.Mount("/debug", middleware.Profiler())
	}
	r.Route("/v1/tenants/{tenant}", func(r chi.Router) {
		r.Use(a.auth.Require(auth.ScopeRead, serve.Error), tenantAllowed)
		r.Get("/scores", a.handleScores)
		r.Get("/scopes", a.handleScopes)
		r.Get("/advocates", a.handleAdvocates)
		r.Get("/alerts", a.handleAlerts)
		r.Get("/leaderboard", a.handleLeaderboard)
		r.Get("/series", a.handleSeries)
		r.Get("/stream", a.handleStream)
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

func (a *Aggregator) ready(ctx context.Context) error {
	if err := a.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis unreachable: %w", err)
	}
	if h := a.haltedPartitions(); len(h) > 0 {
		var parts []string
		for p, why := range h {
			parts = append(parts, p+": "+why)
		}
		sort.Strings(parts)
		return fmt.Errorf("halted partitions: %s", strings.Join(parts, "; "))
	}
	return nil
}

func (a *Aggregator) handleScores(w http.ResponseWriter, r *http.Request) {
	tenant := chi.URLParam(r, "tenant")
	scope := r.URL.Query().Get("scope")
	if scope == "" {
		scope = "all"
	}
	view, err := a.store.View(r.Context(), tenant, scope)
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

// AdvocateList is the answer of /advocates.
type AdvocateList struct {
	Tenant    string           `json:"tenant"`
	Window    string           `json:"window"`
	Advocates []store.Advocate `json:"advocates"`
}

// handleAdvocates ranks referrers by the referral conversions in a window
// (default: the largest), resolving codes to referrers as it reads.
func (a *Aggregator) handleAdvocates(w http.ResponseWriter, r *http.Request) {
	tenant := chi.URLParam(r, "tenant")
	win, ok := a.windowParam(w, r, a.largest)
	if !ok {
		return
	}
	limit, ok := intParam(w, r, "limit", 100, 1, 1000)
	if !ok {
		return
	}
	list, err := a.store.Advocates(r.Context(), tenant, store.SpellsBefore(win, a.now()))
	if err != nil {
		serve.Error(w, http.StatusServiceUnavailable, fmt.Errorf("reading advocates: %w", err))
		return
	}
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
func (a *Aggregator) handleAlerts(w http.ResponseWriter, r *http.Request) {
	tenant := chi.URLParam(r, "tenant")
	state := r.URL.Query().Get("state")
	if state == "" {
		state = alerts.Firing
	}
	if !slices.Contains([]string{alerts.Firing, alerts.Pending, alerts.Resolved, "all"}, state) {
		serve.Error(w, http.StatusBadRequest, fmt.Errorf("state: %q is not one of firing, pending, resolved, all", state))
		return
	}
	raw, err := a.store.AlertStates(r.Context(), tenant)
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

// ScopeList is the answer of /scopes.
type ScopeList struct {
	Tenant string   `json:"tenant"`
	Dim    string   `json:"dim,omitempty"`
	Scopes []string `json:"scopes"`
}

func (a *Aggregator) handleScopes(w http.ResponseWriter, r *http.Request) {
	tenant := chi.URLParam(r, "tenant")
	dim := r.URL.Query().Get("dim")
	all, err := a.store.Scopes(r.Context(), tenant)
	if err != nil {
		serve.Error(w, http.StatusServiceUnavailable, fmt.Errorf("reading scopes: %w", err))
		return
	}
	out := ScopeList{Tenant: tenant, Dim: dim, Scopes: []string{}}
	for _, s := range all {
		if dim == "" || scopeDims(s) == dim {
			out.Scopes = append(out.Scopes, s)
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

// PartitionStatus is one input partition in /v1/status.
type PartitionStatus struct {
	Topic         string `json:"topic"`
	Partition     int    `json:"partition"`
	AppliedOffset int64  `json:"applied_offset"`
	HighWatermark int64  `json:"high_watermark"`
	Halted        string `json:"halted,omitempty"`
}

// Status is the answer of /v1/status.
type Status struct {
	Partitions []PartitionStatus `json:"partitions"`
	Lag        int64             `json:"lag"`
}

func (a *Aggregator) handleStatus(w http.ResponseWriter, r *http.Request) {
	st, err := a.Status(r.Context())
	if err != nil {
		serve.Error(w, http.StatusServiceUnavailable, err)
		return
	}
	serve.JSON(w, http.StatusOK, st)
}

// Status reports every partition of every input topic for the whole group:
// the next offset to apply (from Redis; the log start for an untouched
// partition) and the high watermark, whichever instance answers.
func (a *Aggregator) Status(ctx context.Context) (Status, error) {
	meta, err := a.kafka.Metadata(ctx, &kafka.MetadataRequest{Topics: a.inputTopics()})
	if err != nil {
		return Status{}, fmt.Errorf("reading topic metadata: %w", err)
	}
	req := map[string][]kafka.OffsetRequest{}
	var names []string
	for _, t := range meta.Topics {
		if t.Error != nil {
			return Status{}, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			req[t.Name] = append(req[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
			names = append(names, fmt.Sprintf("%s/%d", t.Name, p.ID))
		}
	}
	offs, err := a.kafka.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return Status{}, fmt.Errorf("listing offsets: %w", err)
	}
	resume, err := a.store.ResumeOffsets(ctx, a.cfg.GroupID, names)
	if err != nil {
		return Status{}, err
	}
	halted := a.haltedPartitions()
	var st Status
	for topic, parts := range offs.Topics {
		for _, p := range parts {
			if p.Error != nil {
				return Status{}, fmt.Errorf("offsets of %s/%d: %w", topic, p.Partition, p.Error)
			}
			name := fmt.Sprintf("%s/%d", topic, p.Partition)
			applied, ok := resume[name]
			if !ok {
				applied = p.FirstOffset
			}
			st.Partitions = append(st.Partitions, PartitionStatus{Topic: topic, Partition: p.Partition,
				AppliedOffset: applied, HighWatermark: p.LastOffset, Halted: halted[name]})
			st.Lag += max(0, p.LastOffset-applied)
		}
	}
	sort.Slice(st.Partitions, func(i, j int) bool {
		pi, pj := st.Partitions[i], st.Partitions[j]
		return pi.Topic < pj.Topic || pi.Topic == pj.Topic && pi.Partition < pj.Partition
	})
	if len(st.Partitions) == 0 {
		return Status{}, errors.New("no input partitions found")
	}
	a.metrics.lag.Set(float64(st.Lag))
	return st, nil
}
