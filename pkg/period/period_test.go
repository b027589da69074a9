package period

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// nowruz holds 1 Farvardin of Solar Hijri years as published in Iran's
// official calendars (Gregorian date of the first day of the year).
var nowruz = map[int]string{
	1395: "2016-03-20", 1396: "2017-03-21", 1397: "2018-03-21", 1398: "2019-03-21",
	1399: "2020-03-20", 1400: "2021-03-21", 1401: "2022-03-21", 1402: "2023-03-21",
	1403: "2024-03-20", 1404: "2025-03-21", 1405: "2026-03-21", 1406: "2027-03-21",
	1407: "2028-03-20", 1408: "2029-03-20",
}

// refPersian converts a Gregorian date to Solar Hijri from the published
// new-year table alone: months of 31 days six times, then 30.
func refPersian(t *testing.T, g time.Time) Date {
	t.Helper()
	for y := 1408; y >= 1395; y-- {
		start, err := time.Parse(time.DateOnly, nowruz[y])
		require.NoError(t, err)
		if g.Before(start) {
			continue
		}
		k := int(g.Sub(start).Hours() / 24)
		if k < 186 {
			return Date{y, k/31 + 1, k%31 + 1}
		}
		k -= 186
		return Date{y, k/30 + 7, k%30 + 1}
	}
	t.Fatalf("%s is outside the table", g)
	return Date{}
}

func TestPersianAgainstPublishedDates(t *testing.T) {
	for _, tc := range []struct{ persian, gregorian string }{
		{"1403-01-01", "2024-03-20"},
		{"1404-01-01", "2025-03-21"},
		{"1405-10-01", "2026-12-22"}, // 1 Dey 1405
		{"1405-08-01", "2026-10-23"}, // 1 Aban 1405
		{"1402-12-29", "2024-03-19"}, // the last day of a common year
		{"1403-12-30", "2025-03-20"}, // 30 Esfand of the leap year 1403
	} {
		g, err := time.Parse(time.DateOnly, tc.gregorian)
		require.NoError(t, err)
		n := civilDay(g.Date())
		require.Equal(t, tc.persian, Persian.Date(n).String(), tc.gregorian)
		var d Date
		_, err = fmt.Sscanf(tc.persian, "%d-%d-%d", &d.Year, &d.Month, &d.Day)
		require.NoError(t, err)
		require.Equal(t, n, Persian.DayNumber(d), tc.persian)
	}
	// Every day from 1395 to the end of 1407 against the table.
	start, _ := time.Parse(time.DateOnly, nowruz[1395])
	end, _ := time.Parse(time.DateOnly, nowruz[1408])
	for g := start; g.Before(end); g = g.AddDate(0, 0, 1) {
		n := civilDay(g.Date())
		want := refPersian(t, g)
		require.Equal(t, want, Persian.Date(n), g.Format(time.DateOnly))
		require.Equal(t, n, Persian.DayNumber(want))
	}
	require.Equal(t, 30, Persian.MonthDays(1403, 12), "1403 is a leap year")
	require.Equal(t, 29, Persian.MonthDays(1404, 12))
	// Every month's length, from the published first days of the years:
	// six of 31, five of 30, Esfand 29 or 30.
	for y := 1395; y < 1408; y++ {
		want := []int{31, 31, 31, 31, 31, 31, 30, 30, 30, 30, 30}
		first, _ := time.Parse(time.DateOnly, nowruz[y])
		next, _ := time.Parse(time.DateOnly, nowruz[y+1])
		esfand := int(next.Sub(first).Hours()/24) - 336
		want = append(want, esfand)
		for m := 1; m <= 12; m++ {
			require.Equal(t, want[m-1], Persian.MonthDays(y, m), "%d-%02d", y, m)
		}
	}
	pers := System{Loc: time.UTC, Calendar: Persian, WeekStart: time.Saturday}
	q, err := pers.Parse("day:1404-11-30", civilDay(2026, 1, 1))
	require.NoError(t, err, "Bahman has 30 days")
	require.Equal(t, "day:1404-11-30", pers.Name(q.Period))
	_, err = pers.Parse("day:1404-12-30", civilDay(2026, 1, 1))
	require.Error(t, err, "Esfand 1404 has 29 days")
}

func TestDayStartsAndLengths(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	tehran, err := time.LoadLocation("Asia/Tehran")
	require.NoError(t, err)
	amman, err := time.LoadLocation("Asia/Amman")
	require.NoError(t, err)
	for _, tc := range []struct {
		loc   *time.Location
		date  string
		start string // UTC
		hours int
	}{
		{ny, "2026-03-08", "2026-03-08T05:00:00Z", 23},
		{ny, "2026-11-01", "2026-11-01T04:00:00Z", 25},
		{ny, "2026-11-02", "2026-11-02T05:00:00Z", 24},
		{berlin, "2026-03-29", "2026-03-28T23:00:00Z", 23},
		{berlin, "2026-10-25", "2026-10-24T22:00:00Z", 25},
		{tehran, "2026-12-03", "2026-12-02T20:30:00Z", 24},
		// Tehran kept DST until 2022: in 2021 clocks went forward at
		// midnight on 22 March, so that day began at 01:00.
		{tehran, "2021-03-22", "2021-03-21T20:30:00Z", 23},
		// Amman went back from 01:00 to midnight on 29 October 2021:
		// midnight happened twice, and the day began at the first.
		{amman, "2021-10-29", "2021-10-28T21:00:00Z", 25},
		{amman, "2021-10-30", "2021-10-29T22:00:00Z", 24},
	} {
		s := System{Loc: tc.loc, Calendar: Gregorian, WeekStart: time.Monday}
		d, err := time.Parse(time.DateOnly, tc.date)
		require.NoError(t, err)
		n := civilDay(d.Date())
		require.Equal(t, tc.start, s.Start(n).UTC().Format(time.RFC3339), tc.date)
		require.Equal(t, float64(tc.hours), s.Start(n+1).Sub(s.Start(n)).Hours(), tc.date)
		require.Equal(t, n, s.Day(s.Start(n)))
		require.Equal(t, n-1, s.Day(s.Start(n).Add(-time.Nanosecond)))
	}
}

func TestPeriodsAndNames(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	tehran, _ := time.LoadLocation("Asia/Tehran")
	greg := System{Loc: ny, Calendar: Gregorian, WeekStart: time.Monday}
	pers := System{Loc: tehran, Calendar: Persian, WeekStart: time.Saturday}
	now := time.Date(2026, 12, 3, 15, 30, 0, 0, time.UTC) // Thursday
	for _, tc := range []struct {
		s          System
		query      string
		name       string
		from, to   string
		prev, year string
	}{
		{greg, "today", "day:2026-12-03", "2026-12-03T00:00:00-05:00", "2026-12-04T00:00:00-05:00", "day:2026-12-02", "day:2025-12-03"},
		{greg, "wtd", "week:2026-11-30", "2026-11-30T00:00:00-05:00", "2026-12-07T00:00:00-05:00", "week:2026-11-23", "week:2025-11-24"},
		{greg, "mtd", "month:2026-12", "2026-12-01T00:00:00-05:00", "2027-01-01T00:00:00-05:00", "month:2026-11", "month:2025-12"},
		{greg, "qtd", "quarter:2026-Q4", "2026-10-01T00:00:00-04:00", "2027-01-01T00:00:00-05:00", "quarter:2026-Q3", "quarter:2025-Q4"},
		{greg, "ytd", "year:2026", "2026-01-01T00:00:00-05:00", "2027-01-01T00:00:00-05:00", "year:2025", "year:2025"},
		{greg, "last_month", "month:2026-11", "2026-11-01T00:00:00-04:00", "2026-12-01T00:00:00-05:00", "month:2026-10", "month:2025-11"},
		{greg, "yesterday", "day:2026-12-02", "2026-12-02T00:00:00-05:00", "2026-12-03T00:00:00-05:00", "day:2026-12-01", "day:2025-12-02"},
		{pers, "last_year", "year:1404", "2025-03-21T00:00:00+03:30", "2026-03-21T00:00:00+03:30", "year:1403", "year:1403"},
		{greg, "month:2026-11", "month:2026-11", "2026-11-01T00:00:00-04:00", "2026-12-01T00:00:00-05:00", "month:2026-10", "month:2025-11"},
		{greg, "week:2026-11-02", "week:2026-11-02", "2026-11-02T00:00:00-05:00", "2026-11-09T00:00:00-05:00", "week:2026-10-26", "week:2025-10-27"},
		{greg, "day:2024-02-29", "day:2024-02-29", "2024-02-29T00:00:00-05:00", "2024-03-01T00:00:00-05:00", "day:2024-02-28", "day:2023-02-28"},
		{pers, "mtd", "month:1405-09", "2026-11-22T00:00:00+03:30", "2026-12-22T00:00:00+03:30", "month:1405-08", "month:1404-09"},
		{pers, "ytd", "year:1405", "2026-03-21T00:00:00+03:30", "2027-03-21T00:00:00+03:30", "year:1404", "year:1404"},
		{pers, "quarter:1405-Q3", "quarter:1405-Q3", "2026-09-23T00:00:00+03:30", "2026-12-22T00:00:00+03:30", "quarter:1405-Q2", "quarter:1404-Q3"},
		{pers, "wtd", "week:1405-09-07", "2026-11-28T00:00:00+03:30", "2026-12-05T00:00:00+03:30", "week:1405-08-30", "week:1404-09-01"},
		{pers, "day:1403-12-30", "day:1403-12-30", "2025-03-20T00:00:00+03:30", "2025-03-21T00:00:00+03:30", "day:1403-12-29", "day:1402-12-29"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			q, err := tc.s.Parse(tc.query, tc.s.Day(now))
			require.NoError(t, err)
			require.Equal(t, tc.name, tc.s.Name(q.Period))
			from, to := tc.s.Bounds(q.Period)
			require.Equal(t, tc.from, from.In(tc.s.Loc).Format(time.RFC3339))
			require.Equal(t, tc.to, to.In(tc.s.Loc).Format(time.RFC3339))
			require.Equal(t, tc.prev, tc.s.Name(tc.s.Previous(q.Period)))
			require.Equal(t, tc.year, tc.s.Name(tc.s.YearAgo(q.Period)))
		})
	}
}

func TestParseErrors(t *testing.T) {
	s := UTC
	today := s.Day(time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC))
	for _, tc := range []struct{ in, reason string }{
		{"month", "not one of today"},
		{"month:2026-13", "is not a month"},
		{"day:2026-02-29", "is not a date of the gregorian calendar"},
		{"week:2026-12-02", "2026-12-02 is a wednesday; weeks start on monday"},
		{"quarter:2026-Q5", "is not a quarter"},
		{"fortnight:2026-01", "is not a kind of period"},
		{"year:26", "is not a year"},
	} {
		_, err := s.Parse(tc.in, today)
		require.ErrorIs(t, err, ErrPeriod, tc.in)
		require.ErrorContains(t, err, tc.reason, tc.in)
	}
}
