// Package period is calendar-period arithmetic in a tenant's time zone and
// calendar: local days, weeks, months, quarters and years, Gregorian or
// Persian (Solar Hijri); their bounds as instants (a day starts at local
// midnight, so DST days are 23 or 25 hours long), their names, the
// to-date aliases and the periods they are compared with. It does no I/O;
// storing and summing what falls in a period is left to the store.
package period

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// System is a tenant's way of cutting time into periods.
type System struct {
	// Loc is the tenant's time zone.
	Loc *time.Location
	// Calendar numbers the years, months and days.
	Calendar Calendar
	// WeekStart is the first day of a week.
	WeekStart time.Weekday
}

// UTC is the system of a tenant with no settings: UTC, Gregorian, weeks
// from Monday.
var UTC = System{Loc: time.UTC, Calendar: Gregorian, WeekStart: time.Monday}

// DefaultWeekStart is the first day of the week of a calendar when the
// tenant names none: Monday (ISO 8601), Saturday for the Persian calendar.
func DefaultWeekStart(c Calendar) time.Weekday {
	if c == Persian {
		return time.Saturday
	}
	return time.Monday
}

// ParseWeekStart reads "monday", "saturday" or "sunday".
func ParseWeekStart(s string) (time.Weekday, error) {
	switch s {
	case "monday":
		return time.Monday, nil
	case "saturday":
		return time.Saturday, nil
	case "sunday":
		return time.Sunday, nil
	}
	return 0, fmt.Errorf("%q is not monday, saturday or sunday", s)
}

// Day is the day number of the local date of t.
func (s System) Day(t time.Time) int64 {
	y, m, d := t.In(s.Loc).Date()
	return civilDay(y, m, d)
}

// Hour is the number of the local hour of t: 24 per day number, by the
// wall clock (on a day the clocks go back, the repeated hour is one
// hour bucket; on a day they go forward, the skipped one is empty).
func (s System) Hour(t time.Time) int64 {
	return s.Day(t)*24 + int64(t.In(s.Loc).Hour())
}

// Month is the number of the calendar month of day number n: year × 12 +
// month − 1 of the tenant's calendar.
func (s System) Month(n int64) int64 {
	d := s.Calendar.Date(n)
	return int64(d.Year)*12 + int64(d.Month-1)
}

// Year is the calendar year of day number n.
func (s System) Year(n int64) int { return s.Calendar.Date(n).Year }

// MonthStart is the day number of the first day of month number m.
func (s System) MonthStart(m int64) int64 {
	return s.Calendar.DayNumber(Date{int(floorDiv(m, 12)), int(mod(m, 12)) + 1, 1})
}

// Start is the first instant of day number n in the tenant's zone: local
// midnight, or the first instant after it where midnight does not exist
// (clocks going forward at midnight), or the earlier of two midnights
// (clocks going back across it).
func (s System) Start(n int64) time.Time {
	y, m, d := civilDate(n)
	t := time.Date(y, m, d, 0, 0, 0, 0, s.Loc)
	if zs, _ := t.ZoneBounds(); !zs.IsZero() && !zs.After(t) {
		p := zs.Add(-time.Nanosecond).In(s.Loc)
		if py, pm, pd := p.Date(); py == y && pm == m && pd == d {
			h, mi, sec := p.Clock()
			since := time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(sec)*time.Second + time.Duration(p.Nanosecond())
			t = p.Add(-since)
		}
	}
	return t
}

// At is the instant of hour h (wall clock) of day number n, or the first
// instant after it where that time does not exist.
func (s System) At(n int64, h int) time.Time {
	if h == 0 {
		return s.Start(n)
	}
	y, m, d := civilDate(n)
	return time.Date(y, m, d, h, 0, 0, 0, s.Loc)
}

// Kind is a length of period.
type Kind uint8

// The kinds of period, shortest first.
const (
	Day Kind = iota
	Week
	Month
	Quarter
	Year
)

var kindNames = []string{"day", "week", "month", "quarter", "year"}

func (k Kind) String() string { return kindNames[k] }

// Aliases are the to-date periods, by kind: today, wtd, mtd, qtd, ytd.
var Aliases = []string{"today", "wtd", "mtd", "qtd", "ytd"}

// LastAliases name, by kind, the last closed period: the one before the
// period under way.
var LastAliases = []string{"yesterday", "last_week", "last_month", "last_quarter", "last_year"}

// Period is one closed calendar period: the days [First, End).
type Period struct {
	Kind  Kind
	First int64 // day number of its first day
	End   int64 // day number of the day after its last
}

// Containing returns the period of kind k holding day number n.
func (s System) Containing(k Kind, n int64) Period {
	switch k {
	case Day:
		return Period{Day, n, n + 1}
	case Week:
		first := n - mod(int64(Weekday(n)-s.WeekStart), 7)
		return Period{Week, first, first + 7}
	}
	d := s.Calendar.Date(n)
	first, months := Date{d.Year, d.Month, 1}, 1
	switch k {
	case Quarter:
		first.Month, months = (d.Month-1)/3*3+1, 3
	case Year:
		first.Month, months = 1, 12
	}
	start := s.Calendar.DayNumber(first)
	next := first
	next.Month += months
	if next.Month > 12 {
		next.Year, next.Month = next.Year+1, next.Month-12
	}
	return Period{k, start, s.Calendar.DayNumber(next)}
}

// Bounds returns the instants a period covers, [from, to).
func (s System) Bounds(p Period) (from, to time.Time) { return s.Start(p.First), s.Start(p.End) }

// Name is the period's canonical name in the tenant's calendar:
// day:YYYY-MM-DD, week:YYYY-MM-DD (the date it starts), month:YYYY-MM,
// quarter:YYYY-Qn, year:YYYY.
func (s System) Name(p Period) string {
	d := s.Calendar.Date(p.First)
	switch p.Kind {
	case Day, Week:
		return p.Kind.String() + ":" + d.String()
	case Month:
		return fmt.Sprintf("month:%04d-%02d", d.Year, d.Month)
	case Quarter:
		return fmt.Sprintf("quarter:%04d-Q%d", d.Year, (d.Month-1)/3+1)
	}
	return fmt.Sprintf("year:%04d", d.Year)
}

// Previous is the period of the same kind just before p.
func (s System) Previous(p Period) Period { return s.Containing(p.Kind, p.First-1) }

// YearAgo is the period of the same kind one calendar year before p: the
// same date a year earlier (the month's last day where that month is
// shorter), and for a week the week holding that date.
func (s System) YearAgo(p Period) Period { return s.Containing(p.Kind, s.DayYearAgo(p.First)) }

// DayYearAgo is the day number of the same date one calendar year before
// day number n, the month's last day where that month is shorter.
func (s System) DayYearAgo(n int64) int64 {
	d := s.Calendar.Date(n)
	d.Year--
	d.Day = min(d.Day, s.Calendar.MonthDays(d.Year, d.Month))
	return s.Calendar.DayNumber(d)
}

// RetainedFrom is the first day number whose periods are kept at day
// number today: the first day of the previous calendar year.
func (s System) RetainedFrom(today int64) int64 {
	return s.Calendar.DayNumber(Date{s.Year(today) - 1, 1, 1})
}

// Query is a period as a request names it: a closed period, or the
// to-date period of a kind (Alias).
type Query struct {
	Period Period
	// Alias is true for today, wtd, mtd, qtd and ytd: the current period
	// of that kind, up to now.
	Alias bool
}

// ErrPeriod wraps every error of Parse.
var ErrPeriod = errors.New("period")

// Parse reads a period as written in the tenant's calendar (day:2026-11-03,
// week:2026-11-02, month:1405-08, quarter:2026-Q3, year:2025) or a to-date
// alias, taking today as day number today. A week must be named by the
// date it starts.
func (s System) Parse(name string, today int64) (Query, error) {
	for k, a := range Aliases {
		if name == a {
			return Query{Period: s.Containing(Kind(k), today), Alias: true}, nil
		}
	}
	for k, a := range LastAliases {
		if name == a {
			return Query{Period: s.Previous(s.Containing(Kind(k), today))}, nil
		}
	}
	kind, spec, ok := strings.Cut(name, ":")
	bad := func(format string, args ...any) (Query, error) {
		return Query{}, fmt.Errorf("%w %q: %s", ErrPeriod, name, fmt.Sprintf(format, args...))
	}
	if !ok {
		return bad("not one of %s, %s or kind:value (day:YYYY-MM-DD, week:YYYY-MM-DD, month:YYYY-MM, quarter:YYYY-Qn, year:YYYY)",
			strings.Join(Aliases, ", "), strings.Join(LastAliases, ", "))
	}
	num := func(s string, digits int) (int, bool) {
		if len(s) != digits {
			return 0, false
		}
		n, err := strconv.Atoi(s)
		return n, err == nil && n >= 0
	}
	parts := strings.Split(spec, "-")
	switch kind {
	case "day", "week":
		if len(parts) != 3 {
			return bad("the date is not YYYY-MM-DD")
		}
		y, ok1 := num(parts[0], 4)
		m, ok2 := num(parts[1], 2)
		d, ok3 := num(parts[2], 2)
		if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > s.Calendar.MonthDays(y, m) {
			return bad("%s is not a date of the %s calendar", spec, s.Calendar)
		}
		n := s.Calendar.DayNumber(Date{y, m, d})
		if kind == "day" {
			return Query{Period: Period{Day, n, n + 1}}, nil
		}
		if wd := Weekday(n); wd != s.WeekStart {
			return bad("%s is a %s; weeks start on %s", spec, strings.ToLower(wd.String()), strings.ToLower(s.WeekStart.String()))
		}
		return Query{Period: Period{Week, n, n + 7}}, nil
	case "month":
		if len(parts) != 2 {
			return bad("the month is not YYYY-MM")
		}
		y, ok1 := num(parts[0], 4)
		m, ok2 := num(parts[1], 2)
		if !ok1 || !ok2 || m < 1 || m > 12 {
			return bad("%s is not a month YYYY-MM", spec)
		}
		return Query{Period: s.Containing(Month, s.Calendar.DayNumber(Date{y, m, 1}))}, nil
	case "quarter":
		y, ok1 := num(strings.TrimSuffix(spec, spec[max(0, len(spec)-3):]), 4)
		if !ok1 || len(spec) != 7 || spec[4:6] != "-Q" || spec[6] < '1' || spec[6] > '4' {
			return bad("%s is not a quarter YYYY-Qn (n 1 to 4)", spec)
		}
		q := int(spec[6] - '0')
		return Query{Period: s.Containing(Quarter, s.Calendar.DayNumber(Date{y, (q-1)*3 + 1, 1}))}, nil
	case "year":
		y, ok1 := num(spec, 4)
		if !ok1 {
			return bad("%s is not a year YYYY", spec)
		}
		return Query{Period: s.Containing(Year, s.Calendar.DayNumber(Date{y, 1, 1}))}, nil
	}
	return bad("%q is not a kind of period (day, week, month, quarter, year)", kind)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Buckets returns the numbers of the local hour, day and calendar month
// holding t, computed together.
func (s System) Buckets(t time.Time) (hour, day, month int64) {
	local := t.In(s.Loc)
	y, m, d := local.Date()
	day = civilDay(y, m, d)
	hour = day*24 + int64(local.Hour())
	if s.Calendar == Gregorian {
		month = int64(y)*12 + int64(m-1)
	} else {
		month = s.Month(day)
	}
	return hour, day, month
}
