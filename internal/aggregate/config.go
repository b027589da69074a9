package aggregate

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cxpulse/cxpulse/internal/config"
	"github.com/cxpulse/cxpulse/internal/digest"
	"github.com/cxpulse/cxpulse/internal/kafkaconn"
	"github.com/cxpulse/cxpulse/internal/pipeline"
	"github.com/cxpulse/cxpulse/internal/redisconn"
	"github.com/cxpulse/cxpulse/internal/scopes"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// Config is the aggregator's configuration.
type Config struct {
	config.Common
	// Kafka is how the aggregator connects to Kafka.
	Kafka kafkaconn.Config
	// HTTPAddr is where the read API, /metrics and probes listen.
	// Default ":9090".
	HTTPAddr string
	// Redis is how the aggregator connects to Redis.
	Redis redisconn.Config
	// GroupID is the Kafka consumer group. Default "cxpulse-aggregator".
	GroupID string
	// Dimensions are the dims that get a scope each.
	// Default "store,region,channel,product,agent".
	Dimensions []string
	// ScopeCombos are combined scopes such as "channel+region", at most
	// scopes.MaxCombos. Default none.
	ScopeCombos []string
	// MaxScopesPerDim caps distinct values per dimension, and distinct
	// value combinations per combination, per tenant; more go to
	// <dim>=__other__. Default 10000.
	MaxScopesPerDim int
	// WindowsSpec lists the rolling windows. Default "1h,24h,7d,30d,90d".
	WindowsSpec string
	// Windows is WindowsSpec parsed, shortest first.
	Windows []window.Window
	// EmitInterval is the least time between two cx.scores snapshots of a
	// scope. Default 1s.
	EmitInterval time.Duration
	// DedupeHorizon is how long an event id is remembered after its last
	// arrival. Default 24h.
	DedupeHorizon time.Duration
	// ShutdownTimeout bounds the graceful stop. Default 15s.
	ShutdownTimeout time.Duration
	// DebugPprof serves Go's profiler under /debug/pprof. Default 0.
	DebugPprof bool
	// DebugScriptProfile adds the Redis time of each script section to
	// the tenant's cxpulse:{<tenant>}:prof hash. Default 0.
	DebugScriptProfile bool
	// ExternalURL is where users reach this aggregator; alerts link to it.
	// Default "http://localhost:9090".
	ExternalURL string
	// AlertmanagerURL, when set, receives alerts on /api/v2/alerts.
	AlertmanagerURL string
	// AlertWebhookURL, when set, receives alerts in Alertmanager's webhook
	// shape (version 4).
	AlertWebhookURL string
	// AlertWebhookSecret signs every webhook message (HMAC-SHA256 of the
	// body, X-Cxpulse-Signature). Default none: unsigned, said at start.
	AlertWebhookSecret string
	// PagerDutyRoutingKey, when set, sends alerts to PagerDuty Events v2 at
	// PagerDutyURL (default https://events.pagerduty.com/v2/enqueue).
	PagerDutyRoutingKey string
	PagerDutyURL        string
	// AlertResend is how often a firing alert is sent again. Default 1m.
	AlertResend time.Duration
	// Digest is the tenants' digest cadence (daily, weekly, off), and
	// DigestSlackURL a Slack incoming webhook it is posted to besides the
	// alert webhook.
	Digest, DigestSlackURL string
	// OnStateLoss is halt (default) or rebuild: what a partition does when
	// Redis holds no state for it although the group applied it.
	OnStateLoss string
	// RouteByTenant runs the router (internal/router) and consumes its
	// tenant-keyed topic instead of the input topics, so that one instance
	// at a time applies each tenant's events. Default off.
	RouteByTenant bool
	// OnWindowsChange is refuse (default) or rebuild: what a start does
	// when CXPULSE_WINDOWS has a window some tenant's state was not kept
	// with (docs/operations.md).
	OnWindowsChange string
	// ScoreMetrics exports the scores of scope all as cxpulse_score gauges
	// for at most this many tenants (in name order). Default 0: off.
	ScoreMetrics int
	// ProtectOpsEndpoints makes /v1/status and /metrics ask for an API key
	// with the read scope (of any tenant). Default 0.
	ProtectOpsEndpoints bool
	// ErasureKey keys the hash that names erased customers (in Redis and
	// on cx.erasures); "" uses a random key kept in Redis.
	ErasureKey string
}

// Register adds the aggregator settings to s.
func (c *Config) Register(s *config.Set) {
	c.Kafka.Register(s)
	c.Common.Register(s)
	s.String(&c.HTTPAddr, "CXPULSE_HTTP_ADDR", ":9090", "address of the read API, /metrics and probes")
	c.Redis.Register(s, redisconn.DefaultURL)
	s.String(&c.GroupID, "CXPULSE_GROUP_ID", "cxpulse-aggregator", "Kafka consumer group")
	s.List(&c.Dimensions, "CXPULSE_DIMENSIONS", "store,region,channel,product,agent", "dims that get a scope each")
	s.List(&c.ScopeCombos, "CXPULSE_SCOPE_COMBOS", "", "combined scopes, e.g. channel+region (at most 8)")
	s.Int(&c.MaxScopesPerDim, "CXPULSE_MAX_SCOPES_PER_DIM", 10000, "distinct values per dimension, or value pairs per combination, per tenant before __other__")
	s.String(&c.WindowsSpec, "CXPULSE_WINDOWS", window.DefaultSpec, "rolling windows (each at least 24m)")
	s.Duration(&c.EmitInterval, "CXPULSE_EMIT_INTERVAL", "1s", "least time between two cx.scores snapshots of a scope")
	s.Duration(&c.DedupeHorizon, "CXPULSE_DEDUPE_HORIZON", "24h", "how long an event id is remembered after its last arrival")
	s.Duration(&c.ShutdownTimeout, "CXPULSE_SHUTDOWN_TIMEOUT", "15s", "longest graceful stop")
	s.Bool(&c.DebugPprof, "CXPULSE_DEBUG_PPROF", false, "serve Go's profiler under /debug/pprof (do not expose)")
	s.Bool(&c.DebugScriptProfile, "CXPULSE_DEBUG_SCRIPT_PROFILE", false, "add the Redis time of each script section to cxpulse:{<tenant>}:prof (docs/performance.md)")
	s.String(&c.ExternalURL, "CXPULSE_EXTERNAL_URL", "http://localhost:9090", "where users reach this aggregator (alerts link to it)")
	s.String(&c.AlertmanagerURL, "CXPULSE_ALERTMANAGER_URL", "", "Alertmanager base URL to post alerts to (/api/v2/alerts)")
	s.String(&c.AlertWebhookURL, "CXPULSE_ALERT_WEBHOOK_URL", "", "URL to post alerts to in Alertmanager's webhook shape (version 4)")
	s.Secret(&c.AlertWebhookSecret, "CXPULSE_ALERT_WEBHOOK_SECRET", "secret of the webhook's HMAC-SHA256 signature (X-Cxpulse-Signature)")
	s.Secret(&c.PagerDutyRoutingKey, "CXPULSE_PAGERDUTY_ROUTING_KEY", "PagerDuty Events v2 routing key; set to send alerts to PagerDuty")
	s.String(&c.PagerDutyURL, "CXPULSE_PAGERDUTY_URL", "https://events.pagerduty.com/v2/enqueue", "PagerDuty Events v2 endpoint")
	s.Duration(&c.AlertResend, "CXPULSE_ALERT_RESEND", "1m", "how often a firing alert is sent again")
	s.String(&c.Digest, "CXPULSE_DIGEST", "off", "each tenant's digest of the closed day or week, in its time zone: daily, weekly or off (a tenant's digest: in the tenants file overrides)")
	s.String(&c.DigestSlackURL, "CXPULSE_DIGEST_SLACK_URL", "", "Slack incoming-webhook URL the digests are posted to as a Slack message (they go to CXPULSE_ALERT_WEBHOOK_URL too)")
	s.String(&c.OnStateLoss, "CXPULSE_ON_STATE_LOSS", "halt", "when Redis lost its state: halt the partitions, or rebuild them from the log start when retention allows")
	s.Bool(&c.RouteByTenant, "CXPULSE_ROUTE_BY_TENANT", false, "forward the input topics to <prefix>by-tenant keyed by tenant and apply from there, one instance per tenant at a time (docs/scaling.md)")
	s.String(&c.OnWindowsChange, "CXPULSE_ON_WINDOWS_CHANGE", windowsRefuse, "when CXPULSE_WINDOWS has a window the tenants' state was not kept with: refuse to start, or rebuild those tenants from the input topics")
	s.Int(&c.ScoreMetrics, "CXPULSE_SCORE_METRICS", 0, "export the scores of scope all as cxpulse_score{tenant,window,stat} for at most this many tenants (0: off; each adds windows × 8 series)")
	s.Bool(&c.ProtectOpsEndpoints, "CXPULSE_PROTECT_OPS_ENDPOINTS", false, "ask for an API key with the read scope on /v1/status and /metrics")
	s.Secret(&c.ErasureKey, "CXPULSE_ERASURE_KEY", "key of the hash naming erased customers in Redis and on cx.erasures (default: a random key kept in Redis)")
}

// ConfigFrom reads a Config from getenv alone (no flags) and validates it.
func ConfigFrom(getenv func(string) string) (Config, error) {
	var cfg Config
	set := config.NewSet("aggregator", getenv)
	cfg.Register(set)
	if err := set.Parse(nil); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// Validate checks every setting, names the bad ones and fills Windows.
func (c *Config) Validate() error {
	errs := []error{c.Kafka.Validate(), c.Common.Validate()}
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.HTTPAddr == "" {
		add("CXPULSE_HTTP_ADDR: required")
	}
	errs = append(errs, c.Redis.Validate())
	if c.GroupID == "" {
		add("CXPULSE_GROUP_ID: required")
	}
	for _, d := range c.Dimensions {
		if !validDim(d) {
			add("CXPULSE_DIMENSIONS: %q must match [a-z][a-z0-9_]{0,31}", d)
		}
	}
	if len(c.ScopeCombos) > scopes.MaxCombos {
		add("CXPULSE_SCOPE_COMBOS: %d combinations is more than %d (each multiplies the scopes of every event)", len(c.ScopeCombos), scopes.MaxCombos)
	}
	for _, combo := range c.ScopeCombos {
		parts := strings.Split(combo, "+")
		if len(parts) < 2 {
			add("CXPULSE_SCOPE_COMBOS: %q must join two or more dimensions with +", combo)
		}
		for _, p := range parts {
			if !slices.Contains(c.Dimensions, p) {
				add("CXPULSE_SCOPE_COMBOS: %q uses %q, which is not in CXPULSE_DIMENSIONS", combo, p)
			}
		}
	}
	if c.OnStateLoss != pipeline.StateLossHalt && c.OnStateLoss != pipeline.StateLossRebuild {
		add("CXPULSE_ON_STATE_LOSS: %q is not halt or rebuild", c.OnStateLoss)
	}
	if c.OnWindowsChange != windowsRefuse && c.OnWindowsChange != windowsRebuild {
		add("CXPULSE_ON_WINDOWS_CHANGE: %q is not %s or %s", c.OnWindowsChange, windowsRefuse, windowsRebuild)
	}
	if c.MaxScopesPerDim < 1 {
		add("CXPULSE_MAX_SCOPES_PER_DIM: %d must be at least 1", c.MaxScopesPerDim)
	}
	ws, err := window.Parse(c.WindowsSpec)
	if err != nil {
		add("CXPULSE_WINDOWS: %v", err)
	}
	c.Windows = ws
	if c.EmitInterval <= 0 {
		add("CXPULSE_EMIT_INTERVAL: must be positive")
	}
	if c.DedupeHorizon <= 0 {
		add("CXPULSE_DEDUPE_HORIZON: must be positive")
	}
	if c.ShutdownTimeout <= 0 {
		add("CXPULSE_SHUTDOWN_TIMEOUT: must be positive")
	}
	for _, u := range []struct{ name, val string }{
		{"CXPULSE_EXTERNAL_URL", c.ExternalURL}, {"CXPULSE_ALERTMANAGER_URL", c.AlertmanagerURL},
		{"CXPULSE_ALERT_WEBHOOK_URL", c.AlertWebhookURL}, {"CXPULSE_PAGERDUTY_URL", c.PagerDutyURL},
		{"CXPULSE_DIGEST_SLACK_URL", c.DigestSlackURL},
	} {
		if u.val == "" {
			continue
		}
		if p, err := url.Parse(u.val); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			add("%s: %q is not an http(s) URL", u.name, u.val)
		}
	}
	if c.AlertWebhookSecret != "" && c.AlertWebhookURL == "" {
		add("CXPULSE_ALERT_WEBHOOK_SECRET: set without CXPULSE_ALERT_WEBHOOK_URL (the webhook it signs)")
	}
	if c.ScoreMetrics < 0 || c.ScoreMetrics > 1000 {
		add("CXPULSE_SCORE_METRICS: %d must be 0 (off) to 1000 tenants", c.ScoreMetrics)
	}
	if c.ProtectOpsEndpoints && c.APIKeysFile == "" {
		add("CXPULSE_PROTECT_OPS_ENDPOINTS: needs CXPULSE_API_KEYS_FILE (the keys it asks for)")
	}
	if _, err := digest.ParseCadence(c.Digest); err != nil {
		add("CXPULSE_DIGEST: %v", err)
	}
	if c.Digest != digest.Off && c.AlertWebhookURL == "" && c.DigestSlackURL == "" {
		add("CXPULSE_DIGEST: %s needs CXPULSE_ALERT_WEBHOOK_URL or CXPULSE_DIGEST_SLACK_URL (where the digests go)", c.Digest)
	}
	if c.AlertResend <= 0 {
		add("CXPULSE_ALERT_RESEND: must be positive")
	}
	return errors.Join(errs...)
}

func validDim(s string) bool {
	if len(s) == 0 || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
