package tenants_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/pkg/period"
)

func TestParse(t *testing.T) {
	r, err := tenants.Parse([]byte(`
tenants:
  acme: {currency: EUR, timezone: Europe/Berlin, churn_inactivity: 60d, alerts: {keep_firing_for: 2h}}
  globex: {churn_inactivity: "off"}
  initech: {}
  parsa: {timezone: Asia/Tehran, calendar: persian}
  umbrella: {calendar: gregorian, week_start: sunday}
`))
	require.NoError(t, err)
	acme, known := r.Get("acme")
	require.True(t, known)
	require.Equal(t, "EUR", acme.Currency)
	require.Equal(t, "Europe/Berlin", acme.Periods.Loc.String())
	require.Equal(t, period.Gregorian, acme.Periods.Calendar)
	require.Equal(t, time.Monday, acme.Periods.WeekStart)
	parsa, _ := r.Get("parsa")
	require.Equal(t, period.Persian, parsa.Periods.Calendar)
	require.Equal(t, time.Saturday, parsa.Periods.WeekStart, "weeks of the Persian calendar start on Saturday")
	umbrella, _ := r.Get("umbrella")
	require.Equal(t, time.Sunday, umbrella.Periods.WeekStart)
	require.Equal(t, 60*24*time.Hour, acme.ChurnInactivity)
	require.Equal(t, 2*time.Hour, *acme.Alerts.KeepFiringFor)
	require.Nil(t, acme.Alerts.PendingFor)
	globex, _ := r.Get("globex")
	require.Zero(t, globex.ChurnInactivity)
	initech, _ := r.Get("initech")
	require.Equal(t, 90*24*time.Hour, initech.ChurnInactivity)
	require.Equal(t, period.UTC, initech.Periods)
	_, known = r.Get("hooli")
	require.False(t, known)
	require.Equal(t, []string{"acme", "globex", "initech", "parsa", "umbrella"}, r.Names())

	var none *tenants.Registry
	_, known = none.Get("anyone")
	require.True(t, known, "without a file every tenant is known")
}

func TestParseErrorsNameTheField(t *testing.T) {
	_, err := tenants.Parse([]byte(`
tenants:
  acme: {currency: euro, timezone: Mars/Olympus, churn_inactivity: soon, calendar: julian, week_start: friday, digest: hourly}
  Bad: {}
`))
	require.ErrorContains(t, err, `tenants.acme.digest: "hourly" is not daily, weekly or off`)
	require.ErrorContains(t, err, `tenants.acme.currency: "euro" is not an ISO 4217 code`)
	require.ErrorContains(t, err, `tenants.acme.timezone: "Mars/Olympus" is not a known time zone`)
	require.ErrorContains(t, err, `tenants.acme.churn_inactivity: "soon" is not a positive duration or off`)
	require.ErrorContains(t, err, `tenants.acme.calendar: "julian" is not gregorian or persian`)
	require.ErrorContains(t, err, `tenants.acme.week_start: "friday" is not monday, saturday or sunday`)
	require.ErrorContains(t, err, "tenants.Bad: not a tenant name")

	_, err = tenants.Parse([]byte("tenants:\n  acme: {curency: EUR}\n"))
	require.ErrorContains(t, err, "field curency not found")
}

func TestAlertParameters(t *testing.T) {
	r, err := tenants.Parse([]byte(`tenants:
  acme:
    alerts:
      odds_ratio_warning: 1.5
      guard_detractors: 8
      max_guard_window: 3d
      false_alarms_per_year: 4
`))
	require.NoError(t, err)
	a, _ := r.Get("acme")
	require.Equal(t, 1.5, *a.Alerts.OddsRatioWarning)
	require.Equal(t, int64(8), *a.Alerts.GuardDetractors)
	require.Equal(t, 72*time.Hour, *a.Alerts.MaxGuardWindow)
	require.Equal(t, 4.0, *a.Alerts.FalseAlarmsPerYear)
	require.Nil(t, a.Alerts.OddsRatioCritical)

	_, err = tenants.Parse([]byte("tenants:\n  acme:\n    alerts:\n      odds_ratio_critical: 0.5\n      guard_responses: -1\n      false_alarms_per_year: -2\n"))
	require.ErrorContains(t, err, "tenants.acme.alerts.odds_ratio_critical: 0.5 must be more than 1")
	require.ErrorContains(t, err, "tenants.acme.alerts.guard_responses: -1 must not be negative")
	require.ErrorContains(t, err, "tenants.acme.alerts.false_alarms_per_year: -2 must be 0 (off) or more")
}

// TestPseudonymSettings: a secret is needed, long enough, and only with
// pseudonymize_customer_ids.
func TestPseudonymSettings(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	require.NoError(t, os.WriteFile(short, []byte("tiny\n"), 0o600))
	good := filepath.Join(dir, "good")
	require.NoError(t, os.WriteFile(good, []byte("0123456789abcdef0123\n"), 0o600))
	for yaml, want := range map[string]string{
		"tenants:\n  acme: {pseudonymize_customer_ids: true}\n":                                       "tenants.acme.pseudonym_secret_file: required with pseudonymize_customer_ids",
		"tenants:\n  acme: {pseudonymize_customer_ids: true, pseudonym_secret_file: " + short + "}\n": "holds 4 bytes; at least 16 are needed",
		"tenants:\n  acme: {pseudonym_secret_file: " + good + "}\n":                                   "set without pseudonymize_customer_ids: true",
	} {
		_, err := tenants.Parse([]byte(yaml))
		require.ErrorContains(t, err, want, yaml)
	}
	reg, err := tenants.Parse([]byte("tenants:\n  acme: {pseudonymize_customer_ids: true, pseudonym_secret_file: " + good + "}\n  plain: {}\n"))
	require.NoError(t, err)
	acme, _ := reg.Get("acme")
	p := acme.Pseudonym("c-1")
	require.Regexp(t, `^p-[0-9a-f]{32}$`, p)
	require.Equal(t, p, acme.Pseudonym(p), "a pseudonym is not hashed again")
	plain, _ := reg.Get("plain")
	require.Equal(t, "c-1", plain.Pseudonym("c-1"))
}

// TestServiceSettings: business hours in the tenant's zone, holidays in its
// calendar and SLA targets, and the errors that name their field.
func TestServiceSettings(t *testing.T) {
	r, err := tenants.Parse([]byte(`tenants:
  ber:
    timezone: Europe/Berlin
    business_hours: {mon: "09:00-17:00", tue: "09:00-17:00", wed: "09:00-17:00", thu: "09:00-17:00", fri: "09:00-17:00"}
    holidays: ["2026-12-25"]
    sla:
      hours: business
      urgent: {first_reply: 1h, resolution: 8h}
      normal: {first_reply: 8h, resolution: 48h}
  teh:
    timezone: Asia/Tehran
    calendar: persian
    business_hours: {sat: "08:00-16:00", thu: "08:00-12:00"}
    holidays: ["1405-01-01"]
    sla: {hours: calendar, high: {first_reply: 4h}}
`))
	require.NoError(t, err)
	ber, _ := r.Get("ber")
	require.True(t, ber.SLA.Business)
	require.Equal(t, tenants.SLATarget{FirstReply: time.Hour, Resolution: 8 * time.Hour}, ber.SLA.Targets["urgent"])
	_, has := ber.SLA.Targets["low"]
	require.False(t, has, "no target for low")
	// Opened Thursday 24 Dec 2026 at 16:00 Berlin: one business hour left
	// that day, the 25th a holiday, the weekend off; 8 business hours
	// later is Monday 28 Dec at 16:00.
	opened := time.Date(2026, 12, 24, 15, 0, 0, 0, time.UTC)
	require.Equal(t, time.Date(2026, 12, 28, 15, 0, 0, 0, time.UTC), ber.Deadline(opened, 8*time.Hour).UTC())
	teh, _ := r.Get("teh")
	require.False(t, teh.SLA.Business)
	require.Equal(t, opened.Add(4*time.Hour), teh.Deadline(opened, 4*time.Hour), "calendar hours")
	// Nowruz 1405 (Saturday 21 March 2026) is a holiday: none of its hours count.
	nowruz := time.Date(2026, 3, 21, 4, 30, 0, 0, time.UTC) // 08:00 in Tehran
	require.Zero(t, teh.Hours.Between(nowruz, nowruz.Add(8*time.Hour)))
	require.Equal(t, 8*time.Hour, teh.Hours.Between(nowruz.Add(7*24*time.Hour), nowruz.Add(7*24*time.Hour+8*time.Hour)), "the next Saturday")

	_, err = tenants.Parse([]byte(`tenants:
  acme:
    business_hours: {mon: "9-17"}
    sla: {hours: weekly, low: {resolution: soon}}
  globex:
    holidays: ["2026-12-25"]
    sla: {hours: business}
`))
	require.ErrorContains(t, err, `tenants.acme.business_hours.mon: "9-17": "9" is not a time of day`)
	require.ErrorContains(t, err, `tenants.acme.sla.hours: "weekly" is not business or calendar`)
	require.ErrorContains(t, err, `tenants.acme.sla.low.resolution: "soon" is not a positive duration`)
	require.ErrorContains(t, err, "tenants.globex.holidays: set without business_hours")
	require.ErrorContains(t, err, "tenants.globex.sla.hours: business needs business_hours")
}
