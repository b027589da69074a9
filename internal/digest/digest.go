// Package digest composes a tenant's daily or weekly digest (docs/alerts.md):
// the closed period's scores with their margins, the changes against the
// period before that are significant at 95 %, the alerts that fired in it
// and what detractors talked about, as structured JSON that also reads as
// a Slack message (text and blocks). It reads and sends nothing.
package digest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// Cadences of a digest.
const (
	Off    = "off"
	Daily  = "daily"
	Weekly = "weekly"
)

// ParseCadence checks a cadence setting ("" is off).
func ParseCadence(s string) (string, error) {
	switch s {
	case "", Off:
		return Off, nil
	case Daily, Weekly:
		return s, nil
	}
	return "", fmt.Errorf("%q is not daily, weekly or off", s)
}

// Closed returns the period a digest of the cadence reports at now: the
// last closed day or week in the tenant's zone and calendar.
func Closed(sys period.System, cadence string, now time.Time) period.Period {
	today := sys.Day(now)
	kind := period.Day
	if cadence == Weekly {
		kind = period.Week
	}
	return sys.Previous(sys.Containing(kind, today))
}

// Digest is what is sent: Kind and Version name the layout.
type Digest struct {
	Kind     string `json:"kind"` // "cxpulse.digest"
	Version  int    `json:"version"`
	Tenant   string `json:"tenant"`
	Cadence  string `json:"cadence"`
	Period   string `json:"period"`
	From     string `json:"from"`
	To       string `json:"to"`
	Timezone string `json:"timezone"`
	Calendar string `json:"calendar"`
	// ComparedWith is the period before; Stats and Previous are the stats
	// of the two (scope all), margins included (nps_moe95…).
	ComparedWith string             `json:"compared_with"`
	Stats        map[string]float64 `json:"stats"`
	Previous     map[string]float64 `json:"previous"`
	// Changes are the stats whose change is significant at 95 %
	// (stats.Significant), in the catalogue's order.
	Changes []Change `json:"changes"`
	// Alerts are those that fired in the period, first fired first.
	Alerts []Alert `json:"alerts"`
	// TopTerms are what the tenant's detractors used more than its other
	// respondents in the period.
	TopTerms []alerts.Term `json:"top_terms"`
	// Text and Blocks are the same content as a Slack message.
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks"`
}

// Change is one significant change.
type Change struct {
	Stat     string  `json:"stat"`
	Value    float64 `json:"value"`
	Previous float64 `json:"previous"`
	Delta    float64 `json:"delta"`
}

// Alert is an alert of the period.
type Alert struct {
	Scope       string    `json:"scope"`
	Severity    string    `json:"severity"`
	State       string    `json:"state"`
	StartsAt    time.Time `json:"startsAt"`
	EndsAt      time.Time `json:"endsAt,omitzero"`
	AlsoAffects []string  `json:"also_affects,omitempty"`
	Summary     string    `json:"summary"`
}

// Block is a Slack layout block.
type Block struct {
	Type string     `json:"type"`
	Text *BlockText `json:"text,omitempty"`
}

// BlockText is a Slack text object.
type BlockText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Input is what a digest is made of.
type Input struct {
	Tenant, Cadence string
	Sys             period.System
	Period          period.Period
	// This and Previous are the summed counters of scope all of the
	// period and the one before.
	This, Previous *stats.Counters
	// States are the tenant's alert states; those that fired in the
	// period are reported.
	States []*alerts.Alert
	Terms  []alerts.Term
}

// Build composes the digest.
func Build(in Input) *Digest {
	sys, p := in.Sys, in.Period
	from, to := sys.Bounds(p)
	d := &Digest{Kind: "cxpulse.digest", Version: 1, Tenant: in.Tenant, Cadence: in.Cadence, Period: sys.Name(p),
		From: from.In(sys.Loc).Format(time.RFC3339), To: to.In(sys.Loc).Format(time.RFC3339),
		Timezone: sys.Loc.String(), Calendar: sys.Calendar.String(), ComparedWith: sys.Name(sys.Previous(p)),
		Stats: stats.DefinedPeriod(in.This), Previous: stats.DefinedPeriod(in.Previous), Changes: []Change{}, Alerts: []Alert{}, TopTerms: in.Terms}
	if d.TopTerms == nil {
		d.TopTerms = []alerts.Term{}
	}
	sig := stats.Significant(in.This, in.Previous)
	for _, name := range stats.PeriodNames() {
		v, ok1 := d.Stats[name]
		o, ok2 := d.Previous[name]
		if ok1 && ok2 && sig[name] {
			d.Changes = append(d.Changes, Change{Stat: name, Value: v, Previous: o, Delta: v - o})
		}
	}
	for _, al := range in.States {
		if al.State == alerts.Pending || al.StartsAt.Before(from) || !al.StartsAt.Before(to) {
			continue
		}
		d.Alerts = append(d.Alerts, Alert{Scope: al.Labels["scope"], Severity: al.Labels["severity"], State: al.State,
			StartsAt: al.StartsAt, EndsAt: al.EndsAt, AlsoAffects: al.AlsoAffects, Summary: al.Annotations["summary"]})
	}
	slices.SortFunc(d.Alerts, func(a, b Alert) int {
		if c := a.StartsAt.Compare(b.StartsAt); c != 0 {
			return c
		}
		return strings.Compare(a.Scope+a.Severity, b.Scope+b.Severity)
	})
	d.Text = d.text()
	d.Blocks = []Block{{Type: "section", Text: &BlockText{Type: "mrkdwn", Text: d.Text}}}
	return d
}

// text writes the digest as Slack mrkdwn, in English.
func (d *Digest) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "*cxpulse %s digest of %s: %s* (%s)\n", d.Cadence, d.Tenant, d.Period, d.Timezone)
	s := d.Stats
	if n, ok := s["nps_responses"]; ok && n > 0 {
		fmt.Fprintf(&b, "NPS %.1f ± %.1f (n = %.0f), detractors %.1f %%", s["nps"], s["nps_moe95"], n, s["detractor_share"])
	} else {
		b.WriteString("No NPS answers")
	}
	if _, ok := s["csat"]; ok {
		fmt.Fprintf(&b, " · CSAT %.1f %%", s["csat"])
	}
	if _, ok := s["ces"]; ok {
		fmt.Fprintf(&b, " · CES %.2f", s["ces"])
	}
	b.WriteString("\n")
	if len(d.Changes) > 0 {
		parts := make([]string, len(d.Changes))
		for i, c := range d.Changes {
			parts[i] = fmt.Sprintf("%s %.2f → %.2f (%+.2f)", c.Stat, c.Previous, c.Value, c.Delta)
		}
		fmt.Fprintf(&b, "Significant against %s: %s\n", d.ComparedWith, strings.Join(parts, "; "))
	} else {
		fmt.Fprintf(&b, "No significant change against %s\n", d.ComparedWith)
	}
	if len(d.Alerts) > 0 {
		parts := make([]string, len(d.Alerts))
		for i, a := range d.Alerts {
			parts[i] = a.Scope + " " + a.Severity
			if len(a.AlsoAffects) > 0 {
				parts[i] += " (also " + strings.Join(a.AlsoAffects, ", ") + ")"
			}
		}
		fmt.Fprintf(&b, "Alerts: %s\n", strings.Join(parts, "; "))
	} else {
		b.WriteString("No alerts\n")
	}
	if len(d.TopTerms) > 0 {
		words := make([]string, 0, len(d.TopTerms))
		for _, t := range d.TopTerms {
			words = append(words, t.Term)
		}
		fmt.Fprintf(&b, "Detractors talk about: %s\n", strings.Join(words, ", "))
	}
	return strings.TrimRight(b.String(), "\n")
}
