// Package bizhours measures time in a tenant's business hours: its weekly
// schedule in its own time zone, minus its holidays (dates in its
// calendar). It answers how much business time lies between two instants
// and when a business-time target falls due, exactly across daylight
// saving changes (docs/configuration.md, business_hours). It is pure: the
// tenants file gives it its settings.
package bizhours

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cxpulse/cxpulse/pkg/period"
)

// Span is an open stretch of a local day, in minutes after its midnight
// by the wall clock: From < To ≤ 1440.
type Span struct{ From, To int }

// Schedule is a tenant's business hours.
type Schedule struct {
	sys      period.System
	week     [7][]Span // by time.Weekday
	holidays map[int64]bool
}

// dayKeys name the days of the week as the tenants file does.
var dayKeys = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Parse reads a weekly schedule (day key → "HH:MM-HH:MM", several spans
// joined by commas, "off" or "" for none) and holidays (dates of the
// tenant's calendar, YYYY-MM-DD) for a tenant whose zone and calendar are
// sys. Each error names its field under field (e.g.
// "tenants.acme.business_hours.mon").
func Parse(sys period.System, field string, hours map[string]string, holidays []string, holidaysField string) (*Schedule, error) {
	s := &Schedule{sys: sys, holidays: map[int64]bool{}}
	var open time.Duration
	for key, v := range hours {
		wd, ok := dayKeys[strings.ToLower(key)]
		if !ok {
			return nil, fmt.Errorf("%s.%s: not a day (one of mon, tue, wed, thu, fri, sat, sun)", field, key)
		}
		spans, err := parseSpans(v)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", field, key, err)
		}
		s.week[wd] = spans
		for _, sp := range spans {
			open += time.Duration(sp.To-sp.From) * time.Minute
		}
	}
	if open == 0 {
		return nil, fmt.Errorf("%s: no day has business hours", field)
	}
	for i, h := range holidays {
		d, err := parseDate(h)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", holidaysField, i, err)
		}
		if d.Month > 12 || d.Day > sys.Calendar.MonthDays(d.Year, d.Month) {
			return nil, fmt.Errorf("%s[%d]: %q is not a date of the %s calendar", holidaysField, i, h, sys.Calendar)
		}
		s.holidays[sys.Calendar.DayNumber(d)] = true
	}
	return s, nil
}

// parseSpans reads "HH:MM-HH:MM[, HH:MM-HH:MM…]": ordered, apart.
func parseSpans(v string) ([]Span, error) {
	v = strings.TrimSpace(v)
	if v == "" || strings.EqualFold(v, "off") {
		return nil, nil
	}
	var out []Span
	for _, part := range strings.Split(v, ",") {
		from, to, ok := strings.Cut(strings.TrimSpace(part), "-")
		if !ok {
			return nil, fmt.Errorf("%q is not HH:MM-HH:MM", part)
		}
		f, err := parseClock(from)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", strings.TrimSpace(part), err)
		}
		t, err := parseClock(to)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", strings.TrimSpace(part), err)
		}
		if f >= t {
			return nil, fmt.Errorf("%q ends before it starts", strings.TrimSpace(part))
		}
		if len(out) > 0 && f < out[len(out)-1].To {
			return nil, fmt.Errorf("%q overlaps or precedes the span before it", strings.TrimSpace(part))
		}
		out = append(out, Span{f, t})
	}
	return out, nil
}

// parseClock reads HH:MM, 00:00 to 24:00, as minutes.
func parseClock(v string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(v), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || mm < 0 || mm > 59 || hh*60+mm > 24*60 {
		return 0, fmt.Errorf("%q is not a time of day HH:MM (00:00 to 24:00)", strings.TrimSpace(v))
	}
	return hh*60 + mm, nil
}

// parseDate reads YYYY-MM-DD.
func parseDate(v string) (period.Date, error) {
	parts := strings.Split(strings.TrimSpace(v), "-")
	if len(parts) == 3 && len(parts[0]) == 4 && len(parts[1]) == 2 && len(parts[2]) == 2 {
		y, e1 := strconv.Atoi(parts[0])
		m, e2 := strconv.Atoi(parts[1])
		d, e3 := strconv.Atoi(parts[2])
		if e1 == nil && e2 == nil && e3 == nil && m >= 1 && d >= 1 {
			return period.Date{Year: y, Month: m, Day: d}, nil
		}
	}
	return period.Date{}, fmt.Errorf("%q is not a date YYYY-MM-DD", v)
}

// Open reports whether t is within business hours.
func (s *Schedule) Open(t time.Time) bool {
	n := s.sys.Day(t)
	for _, iv := range s.day(n) {
		if !t.Before(iv[0]) && t.Before(iv[1]) {
			return true
		}
	}
	return false
}

// Between returns the business time in [from, to) (0 when to is not
// after from).
func (s *Schedule) Between(from, to time.Time) time.Duration {
	if !to.After(from) {
		return 0
	}
	var sum time.Duration
	for n := s.sys.Day(from); n <= s.sys.Day(to); n++ {
		for _, iv := range s.day(n) {
			a, b := later(iv[0], from), earlier(iv[1], to)
			if b.After(a) {
				sum += b.Sub(a)
			}
		}
	}
	return sum
}

// Add returns the instant at which d of business time has passed since
// from: the deadline of a business-hours target. d ≤ 0 returns from.
func (s *Schedule) Add(from time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return from
	}
	// A schedule has open time every week and finitely many holidays, so
	// the loop ends.
	for n := s.sys.Day(from); ; n++ {
		for _, iv := range s.day(n) {
			a := later(iv[0], from)
			if !iv[1].After(a) {
				continue
			}
			if left := iv[1].Sub(a); d <= left {
				return a.Add(d)
			}
			d -= iv[1].Sub(a)
		}
	}
}

// day returns the open intervals [start, end) of day number n, as
// instants: none on a holiday.
func (s *Schedule) day(n int64) [][2]time.Time {
	if s.holidays[n] {
		return nil
	}
	spans := s.week[period.Weekday(n)]
	out := make([][2]time.Time, 0, len(spans))
	for _, sp := range spans {
		a, b := s.wall(n, sp.From), s.wall(n, sp.To)
		if b.After(a) {
			out = append(out, [2]time.Time{a, b})
		}
	}
	return out
}

// wall is the instant of minute m (wall clock) of day number n: the
// midnights are the day's and the next day's starts; a time the clocks
// skip is the instant they skip to.
func (s *Schedule) wall(n int64, m int) time.Time {
	switch m {
	case 0:
		return s.sys.Start(n)
	case 24 * 60:
		return s.sys.Start(n + 1)
	}
	y, mo, d := s.sys.Start(n).In(s.sys.Loc).Date()
	t := time.Date(y, mo, d, m/60, m%60, 0, 0, s.sys.Loc)
	h, mi, _ := t.Clock()
	switch got := h*60 + mi; {
	case got > m:
		// In a gap: the clock jumped over m; the day goes on from the
		// instant it jumped, where t's zone begins.
		start, _ := t.ZoneBounds()
		return start
	case got < m:
		_, end := t.ZoneBounds()
		return end
	}
	return t
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
