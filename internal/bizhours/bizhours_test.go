package bizhours

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/testseed"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// refTenant is a schedule as a person reads it, checked minute by minute:
// the local weekday and wall clock, and holidays as Gregorian dates
// worked out by hand.
type refTenant struct {
	loc      *time.Location
	spans    map[time.Weekday][][2]int // wall-clock minutes [from, to)
	holidays map[string]bool           // local dates YYYY-MM-DD
}

func (r refTenant) open(t time.Time) bool {
	l := t.In(r.loc)
	if r.holidays[l.Format("2006-01-02")] {
		return false
	}
	m := l.Hour()*60 + l.Minute()
	for _, sp := range r.spans[l.Weekday()] {
		if m >= sp[0] && m < sp[1] {
			return true
		}
	}
	return false
}

// between counts the open minutes in [from, to), both whole minutes.
func (r refTenant) between(from, to time.Time) time.Duration {
	var n time.Duration
	for t := from; t.Before(to); t = t.Add(time.Minute) {
		if r.open(t) {
			n += time.Minute
		}
	}
	return n
}

// add walks open minutes from from until d of them have passed.
func (r refTenant) add(from time.Time, d time.Duration) time.Time {
	t := from
	for d > 0 {
		if r.open(t) {
			d -= time.Minute
		}
		t = t.Add(time.Minute)
	}
	return t
}

func berlin(t *testing.T) (*Schedule, refTenant) {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	day := "09:00-17:00"
	// Sunday 01:00-04:00 spans both daylight saving changes of 2026 (29
	// March and 25 October, at 02:00 and 03:00).
	s, err := Parse(period.System{Loc: loc, Calendar: period.Gregorian, WeekStart: time.Monday}, "business_hours",
		map[string]string{"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sun": "01:00-04:00"},
		[]string{"2026-12-25"}, "holidays")
	require.NoError(t, err)
	nine := [][2]int{{540, 1020}}
	return s, refTenant{loc: loc, holidays: map[string]bool{"2026-12-25": true}, spans: map[time.Weekday][][2]int{
		time.Monday: nine, time.Tuesday: nine, time.Wednesday: nine, time.Thursday: nine, time.Friday: nine, time.Sunday: {{60, 240}}}}
}

func tehran(t *testing.T) (*Schedule, refTenant) {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Tehran")
	require.NoError(t, err)
	day := "08:00-16:00"
	s, err := Parse(period.System{Loc: loc, Calendar: period.Persian, WeekStart: time.Saturday}, "business_hours",
		map[string]string{"sat": day, "sun": day, "mon": day, "tue": day, "wed": day, "thu": "08:00-12:00", "fri": "off"},
		// Nowruz and Sizdah Bedar 1405: 21 March and 2 April 2026.
		[]string{"1405-01-01", "1405-01-13"}, "holidays")
	require.NoError(t, err)
	eight := [][2]int{{480, 960}}
	return s, refTenant{loc: loc, holidays: map[string]bool{"2026-03-21": true, "2026-04-02": true}, spans: map[time.Weekday][][2]int{
		time.Saturday: eight, time.Sunday: eight, time.Monday: eight, time.Tuesday: eight, time.Wednesday: eight, time.Thursday: {{480, 720}}}}
}

// TestAgainstMinuteByMinute: business time between random instants of
// 2026, and the deadline of a random business-time target, match a count
// of open minutes, for a Berlin tenant (DST changes, a holiday) and a
// Tehran tenant on the Persian calendar (Saturday to Wednesday, Thursday
// mornings, Persian-date holidays).
func TestAgainstMinuteByMinute(t *testing.T) {
	rng := rand.New(rand.NewPCG(testseed.New(t), 3))
	year := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, mk := range map[string]func(*testing.T) (*Schedule, refTenant){"berlin": berlin, "tehran": tehran} {
		s, ref := mk(t)
		for range 150 {
			from := year.Add(time.Duration(rng.IntN(365*24*60)) * time.Minute)
			to := from.Add(time.Duration(rng.IntN(12*24*60)) * time.Minute)
			require.Equal(t, ref.between(from, to), s.Between(from, to), "%s %s to %s", name, from, to)
			d := time.Duration(1+rng.IntN(40*60)) * time.Minute
			require.Equal(t, ref.add(from, d).UTC(), s.Add(from, d).UTC(), "%s %s + %s", name, from, d)
			require.Equal(t, ref.open(from), s.Open(from), "%s %s", name, from)
		}
	}
}

// TestByHand: worked examples, to the second.
func TestByHand(t *testing.T) {
	s, _ := berlin(t)
	at := func(v string) time.Time {
		tt, err := time.Parse(time.RFC3339, v)
		require.NoError(t, err)
		return tt
	}
	// Thu 24 Dec 16:30:30 (29m30s left that day), Fri 25 a holiday,
	// Sunday 01:00-04:00, Monday from 09:00 to 09:10.
	require.Equal(t, 3*time.Hour+39*time.Minute+30*time.Second, s.Between(at("2026-12-24T16:30:30+01:00"), at("2026-12-28T09:10:00+01:00")))
	require.Equal(t, at("2026-12-27T01:30:30+01:00").UTC(), s.Add(at("2026-12-24T16:30:30+01:00"), time.Hour).UTC())
	// The Sunday span is 2 h when the clocks go forward, 4 h when back.
	require.Equal(t, 2*time.Hour, s.Between(at("2026-03-28T00:00:00+01:00"), at("2026-03-30T00:00:00+02:00")))
	require.Equal(t, 4*time.Hour, s.Between(at("2026-10-24T00:00:00+02:00"), at("2026-10-26T00:00:00+01:00")))
	require.Equal(t, at("2026-03-29T04:00:00+02:00").UTC(), s.Add(at("2026-03-29T00:00:00+01:00"), 2*time.Hour).UTC())
	require.Zero(t, s.Between(at("2026-12-25T10:00:00+01:00"), at("2026-12-25T12:00:00+01:00")), "a holiday")
}

// TestParseErrors: every error names its field and the reason.
func TestParseErrors(t *testing.T) {
	sys := period.UTC
	for _, tc := range []struct {
		hours    map[string]string
		holidays []string
		says     string
	}{
		{map[string]string{"mon": "9-17"}, nil, `business_hours.mon: "9-17": "9" is not a time of day HH:MM`},
		{map[string]string{"mon": "17:00-09:00"}, nil, `business_hours.mon: "17:00-09:00" ends before it starts`},
		{map[string]string{"mon": "09:00-13:00,12:00-17:00"}, nil, `business_hours.mon: "12:00-17:00" overlaps`},
		{map[string]string{"mon": "09:00-24:01"}, nil, `"24:01" is not a time of day`},
		{map[string]string{"monday": "09:00-17:00"}, nil, `business_hours.monday: not a day`},
		{map[string]string{"sat": "off"}, nil, "business_hours: no day has business hours"},
		{map[string]string{"mon": "09:00-17:00"}, []string{"2026-02-30"}, `holidays[0]: "2026-02-30" is not a date of the gregorian calendar`},
		{map[string]string{"mon": "09:00-17:00"}, []string{"25.12.2026"}, `holidays[0]: "25.12.2026" is not a date YYYY-MM-DD`},
	} {
		_, err := Parse(sys, "business_hours", tc.hours, tc.holidays, "holidays")
		require.ErrorContains(t, err, tc.says)
	}
}
