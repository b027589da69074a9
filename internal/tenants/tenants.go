// Package tenants reads the optional tenants file: per tenant its
// reporting currency, time zone, churn inactivity horizon and alert
// parameters. Without a file every well-formed tenant is accepted with the
// defaults; applying the settings is left to the services.
package tenants

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cxpulse/cxpulse/internal/bizhours"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/period"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// DefaultChurnInactivity is the inactivity horizon after which a customer
// with no purchase counts as lost.
const DefaultChurnInactivity = 90 * window.Day

// Tenant holds one tenant's settings.
type Tenant struct {
	// Currency is the reporting currency (ISO 4217); empty accepts any.
	Currency string
	// Periods is how the tenant cuts time into calendar periods: its time
	// zone (UTC by default), calendar (Gregorian by default) and first
	// day of the week (Monday; Saturday for the Persian calendar).
	Periods period.System
	// ChurnInactivity is the inactivity horizon; 0 means off.
	ChurnInactivity time.Duration
	// CommentRetention is how long comment text (samples, theme words) is
	// kept after the comment occurred; 0 keeps it as long as they serve.
	CommentRetention time.Duration
	// Alerts overrides alert parameters; nil fields keep the defaults.
	Alerts Alerts
	// Digest is the tenant's digest cadence (daily, weekly, off); ""
	// follows CXPULSE_DIGEST.
	Digest string
	// Hours are the tenant's business hours (nil: none set); SLA its
	// ticket service targets (nil: none). See service.go.
	Hours *bizhours.Schedule
	SLA   *SLA
	// pseudonyms is the secret customer ids are replaced under (see
	// Pseudonym); nil keeps them as sent.
	pseudonyms []byte
}

// Alerts holds the per-tenant alert parameters that override defaults.
type Alerts struct {
	PendingFor       *time.Duration
	KeepFiringFor    *time.Duration
	DetectionHorizon *time.Duration
	MaxGuardWindow   *time.Duration
	// Detection parameters (docs/alerts.md).
	OddsRatioWarning, OddsRatioCritical *float64
	BaselineShrinkage                   *float64
	ThresholdOffset, MinThreshold       *float64
	GuardResponses, GuardDetractors     *int64
	MinTenantResponses                  *int64
	FalseAlarmsPerYear                  *float64
}

// CurrencyField is the event field the currency rule is about.
const CurrencyField = "purchase.currency"

// CurrencyProblem returns why ev, an event of tenant name, may not be
// counted for its currency, or "" when it may: a tenant with a reporting
// currency takes purchases in that currency or in none named (docs/events.md).
// Ingest answers 400 and the aggregator dead-letters as currency_mismatch.
func (t Tenant) CurrencyProblem(name string, ev *events.Event) string {
	if ev.Purchase == nil || ev.Purchase.Currency == "" || t.Currency == "" || ev.Purchase.Currency == t.Currency {
		return ""
	}
	return fmt.Sprintf("%s is not the reporting currency %s of tenant %s", ev.Purchase.Currency, t.Currency, name)
}

// Default is the settings of a tenant the file does not list, or of every
// tenant when there is no file.
func Default() Tenant {
	return Tenant{Periods: period.UTC, ChurnInactivity: DefaultChurnInactivity}
}

// Registry is a loaded tenants file. The nil Registry means no file: every
// tenant is known and has the defaults.
type Registry struct {
	tenants map[string]Tenant
}

// Load reads a tenants file; an empty path returns the nil Registry.
func Load(path string) (*Registry, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading tenants file: %w", err)
	}
	r, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("tenants file %s: %w", path, err)
	}
	return r, nil
}

type fileAlerts struct {
	PendingFor         string   `yaml:"pending_for"`
	KeepFiringFor      string   `yaml:"keep_firing_for"`
	DetectionHorizon   string   `yaml:"detection_horizon"`
	MaxGuardWindow     string   `yaml:"max_guard_window"`
	OddsRatioWarning   *float64 `yaml:"odds_ratio_warning"`
	OddsRatioCritical  *float64 `yaml:"odds_ratio_critical"`
	BaselineShrinkage  *float64 `yaml:"baseline_shrinkage"`
	ThresholdOffset    *float64 `yaml:"threshold_offset"`
	MinThreshold       *float64 `yaml:"min_threshold"`
	GuardResponses     *int64   `yaml:"guard_responses"`
	GuardDetractors    *int64   `yaml:"guard_detractors"`
	MinTenantResponses *int64   `yaml:"min_tenant_responses"`
	FalseAlarmsPerYear *float64 `yaml:"false_alarms_per_year"`
}

type fileTenant struct {
	Currency        string     `yaml:"currency"`
	Timezone        string     `yaml:"timezone"`
	Calendar        string     `yaml:"calendar"`
	WeekStart       string     `yaml:"week_start"`
	ChurnInactivity string     `yaml:"churn_inactivity"`
	Alerts          fileAlerts `yaml:"alerts"`
	// PseudonymizeCustomerIDs replaces every customer id by a keyed hash
	// (ingest and the import) under the secret in PseudonymSecretFile.
	CommentRetention        string `yaml:"comment_retention"`
	Digest                  string `yaml:"digest"`
	PseudonymizeCustomerIDs bool   `yaml:"pseudonymize_customer_ids"`
	PseudonymSecretFile     string `yaml:"pseudonym_secret_file"`
	// Ticket service: business hours by day key, holidays (dates of the
	// tenant's calendar), SLA targets.
	BusinessHours map[string]string `yaml:"business_hours"`
	Holidays      []string          `yaml:"holidays"`
	SLA           *fileSLA          `yaml:"sla"`
}

// Parse reads the YAML of a tenants file:
//
//	tenants:
//	  acme: {currency: EUR, timezone: Europe/Berlin, churn_inactivity: 60d}
//	  parsa: {currency: IRR, timezone: Asia/Tehran, calendar: persian, week_start: saturday}
//
// Unknown fields are rejected so typos do not pass silently.
func Parse(b []byte) (*Registry, error) {
	var file struct {
		Tenants map[string]fileTenant `yaml:"tenants"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("decoding YAML: %w", err)
	}
	names := make([]string, 0, len(file.Tenants))
	for name := range file.Tenants {
		names = append(names, name)
	}
	sort.Strings(names)
	r := &Registry{tenants: make(map[string]Tenant, len(names))}
	var errs []error
	for _, name := range names {
		t, err := file.Tenants[name].parse(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.tenants[name] = t
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

func (f fileTenant) parse(name string) (Tenant, error) {
	t := Default()
	pr := &problems{tenant: name}
	if !events.ValidTenant(name) {
		pr.errs = append(pr.errs, fmt.Errorf("tenants.%s: not a tenant name ([a-z0-9][a-z0-9_-]{0,63})", name))
	}
	if f.Currency != "" {
		if !events.ValidCurrency(f.Currency) {
			pr.bad("currency", "%q is not an ISO 4217 code (three capital letters)", f.Currency)
		}
		t.Currency = f.Currency
	}
	f.parsePeriods(&t, pr)
	f.parseDurations(&t, pr)
	f.parseService(&t, pr)
	if f.PseudonymizeCustomerIDs {
		secret, err := loadSecret(f.PseudonymSecretFile)
		if err != nil {
			pr.bad("pseudonym_secret_file", "%v", err)
		}
		t.pseudonyms = secret
	} else if f.PseudonymSecretFile != "" {
		pr.bad("pseudonym_secret_file", "set without pseudonymize_customer_ids: true")
	}
	f.Alerts.parse(&t, pr)
	return t, errors.Join(pr.errs...)
}

// problems collects what is wrong with one tenant's settings, each named
// by its path.
type problems struct {
	tenant string
	errs   []error
}

func (p *problems) bad(field, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("tenants.%s.%s: %s", p.tenant, field, fmt.Sprintf(format, args...)))
}

// parsePeriods reads the zone, calendar and week start.
func (f fileTenant) parsePeriods(t *Tenant, pr *problems) {
	if f.Timezone != "" {
		loc, err := time.LoadLocation(f.Timezone)
		if err != nil {
			pr.bad("timezone", "%q is not a known time zone", f.Timezone)
		} else {
			t.Periods.Loc = loc
		}
	}
	if f.Calendar != "" {
		c, err := period.ParseCalendar(f.Calendar)
		if err != nil {
			pr.bad("calendar", "%v", err)
		} else {
			t.Periods.Calendar = c
		}
	}
	t.Periods.WeekStart = period.DefaultWeekStart(t.Periods.Calendar)
	if f.WeekStart != "" {
		wd, err := period.ParseWeekStart(f.WeekStart)
		if err != nil {
			pr.bad("week_start", "%v", err)
		} else {
			t.Periods.WeekStart = wd
		}
	}
}

// parseDurations reads the churn inactivity and the comment retention.
func (f fileTenant) parseDurations(t *Tenant, pr *problems) {
	switch f.ChurnInactivity {
	case "":
	case "off":
		t.ChurnInactivity = 0
	default:
		d, err := window.ParseDuration(f.ChurnInactivity)
		if err != nil || d <= 0 {
			pr.bad("churn_inactivity", "%q is not a positive duration or off", f.ChurnInactivity)
		} else {
			t.ChurnInactivity = d
		}
	}
	switch f.Digest {
	case "", "daily", "weekly", "off":
		t.Digest = f.Digest
	default:
		pr.bad("digest", "%q is not daily, weekly or off", f.Digest)
	}
	if f.CommentRetention != "" {
		d, err := window.ParseDuration(f.CommentRetention)
		if err != nil || d < time.Hour {
			pr.bad("comment_retention", "%q is not a duration of at least 1h", f.CommentRetention)
		} else {
			t.CommentRetention = d
		}
	}
}

// Get returns a tenant's settings; known is false when a file is loaded and
// does not list the tenant.
func (r *Registry) Get(name string) (t Tenant, known bool) {
	if r == nil {
		return Default(), true
	}
	t, known = r.tenants[name]
	if !known {
		return Default(), false
	}
	return t, true
}

// Names lists the tenants of the file, sorted; nil without a file.
func (r *Registry) Names() []string {
	if r == nil {
		return nil
	}
	out := make([]string, 0, len(r.tenants))
	for n := range r.tenants {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// parse reads the alert parameters a tenant overrides.
func (fa fileAlerts) parse(t *Tenant, pr *problems) {
	for _, a := range []struct {
		field string
		raw   string
		dst   **time.Duration
	}{
		{"alerts.pending_for", fa.PendingFor, &t.Alerts.PendingFor},
		{"alerts.keep_firing_for", fa.KeepFiringFor, &t.Alerts.KeepFiringFor},
		{"alerts.detection_horizon", fa.DetectionHorizon, &t.Alerts.DetectionHorizon},
		{"alerts.max_guard_window", fa.MaxGuardWindow, &t.Alerts.MaxGuardWindow},
	} {
		if a.raw == "" {
			continue
		}
		d, err := window.ParseDuration(a.raw)
		if err != nil || d < 0 {
			pr.bad(a.field, "%q is not a duration", a.raw)
			continue
		}
		*a.dst = &d
	}
	for _, v := range []struct {
		field string
		val   *float64
		ok    func(float64) bool
		rule  string
		dst   **float64
	}{
		{"alerts.odds_ratio_warning", fa.OddsRatioWarning, func(x float64) bool { return x > 1 }, "more than 1", &t.Alerts.OddsRatioWarning},
		{"alerts.odds_ratio_critical", fa.OddsRatioCritical, func(x float64) bool { return x > 1 }, "more than 1", &t.Alerts.OddsRatioCritical},
		{"alerts.baseline_shrinkage", fa.BaselineShrinkage, func(x float64) bool { return x >= 0 }, "0 or more", &t.Alerts.BaselineShrinkage},
		{"alerts.threshold_offset", fa.ThresholdOffset, func(x float64) bool { return !math.IsNaN(x) }, "a number", &t.Alerts.ThresholdOffset},
		{"alerts.min_threshold", fa.MinThreshold, func(x float64) bool { return x > 0 }, "more than 0", &t.Alerts.MinThreshold},
		{"alerts.false_alarms_per_year", fa.FalseAlarmsPerYear, func(x float64) bool { return x >= 0 && !math.IsInf(x, 1) }, "0 (off) or more", &t.Alerts.FalseAlarmsPerYear},
	} {
		switch {
		case v.val == nil:
		case !v.ok(*v.val):
			pr.bad(v.field, "%v must be %s", *v.val, v.rule)
		default:
			*v.dst = v.val
		}
	}
	for _, v := range []struct {
		field string
		val   *int64
		dst   **int64
	}{
		{"alerts.guard_responses", fa.GuardResponses, &t.Alerts.GuardResponses},
		{"alerts.guard_detractors", fa.GuardDetractors, &t.Alerts.GuardDetractors},
		{"alerts.min_tenant_responses", fa.MinTenantResponses, &t.Alerts.MinTenantResponses},
	} {
		switch {
		case v.val == nil:
		case *v.val < 0:
			pr.bad(v.field, "%d must not be negative", *v.val)
		default:
			*v.dst = v.val
		}
	}
}
