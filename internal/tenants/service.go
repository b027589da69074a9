package tenants

import (
	"fmt"
	"time"

	"github.com/cxpulse/cxpulse/internal/bizhours"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// Priorities are the ticket priorities, lowest first; a ticket without
// one is normal.
var Priorities = []string{"low", "normal", "high", "urgent"}

// SLA is a tenant's ticket service targets.
type SLA struct {
	// Business counts the targets in business hours (the tenant's
	// Hours), else in calendar time.
	Business bool
	// Targets by priority; a priority not listed has none.
	Targets map[string]SLATarget
}

// SLATarget is the time allowed, from a ticket's opening, to its first
// public agent reply and to its first solve; 0 is no target.
type SLATarget struct {
	FirstReply, Resolution time.Duration
}

// Deadline is when a target of d from opened falls due: d later in
// calendar time, or d of the tenant's business hours later.
func (t Tenant) Deadline(opened time.Time, d time.Duration) time.Time {
	if t.SLA != nil && t.SLA.Business && t.Hours != nil {
		return t.Hours.Add(opened, d)
	}
	return opened.Add(d)
}

type fileTarget struct {
	FirstReply string `yaml:"first_reply"`
	Resolution string `yaml:"resolution"`
}

type fileSLA struct {
	Hours  string      `yaml:"hours"`
	Low    *fileTarget `yaml:"low"`
	Normal *fileTarget `yaml:"normal"`
	High   *fileTarget `yaml:"high"`
	Urgent *fileTarget `yaml:"urgent"`
}

// parseService reads the business hours, holidays and SLA targets (after
// the zone and calendar, which the hours and holidays are read in).
func (f fileTenant) parseService(t *Tenant, pr *problems) {
	switch {
	case len(f.BusinessHours) > 0:
		s, err := bizhours.Parse(t.Periods, "business_hours", f.BusinessHours, f.Holidays, "holidays")
		if err != nil {
			pr.errs = append(pr.errs, fmt.Errorf("tenants.%s.%w", pr.tenant, err))
		} else {
			t.Hours = s
		}
	case len(f.Holidays) > 0:
		pr.bad("holidays", "set without business_hours")
	}
	if f.SLA == nil {
		return
	}
	sla := &SLA{Targets: map[string]SLATarget{}, Business: len(f.BusinessHours) > 0}
	switch f.SLA.Hours {
	case "":
	case "business":
		sla.Business = true
		if len(f.BusinessHours) == 0 {
			pr.bad("sla.hours", "business needs business_hours")
		}
	case "calendar":
		sla.Business = false
	default:
		pr.bad("sla.hours", "%q is not business or calendar", f.SLA.Hours)
	}
	for _, p := range []struct {
		name string
		t    *fileTarget
	}{{"low", f.SLA.Low}, {"normal", f.SLA.Normal}, {"high", f.SLA.High}, {"urgent", f.SLA.Urgent}} {
		if p.t == nil {
			continue
		}
		var tg SLATarget
		for _, d := range []struct {
			field, v string
			dst      *time.Duration
		}{{"first_reply", p.t.FirstReply, &tg.FirstReply}, {"resolution", p.t.Resolution, &tg.Resolution}} {
			if d.v == "" {
				continue
			}
			v, err := window.ParseDuration(d.v)
			if err != nil || v <= 0 {
				pr.bad("sla."+p.name+"."+d.field, "%q is not a positive duration such as 8h", d.v)
				continue
			}
			*d.dst = v
		}
		sla.Targets[p.name] = tg
	}
	t.SLA = sla
}
