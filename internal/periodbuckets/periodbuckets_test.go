package periodbuckets

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/pkg/period"
)

func day(y int, m time.Month, d int) int64 {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// TestSpanBuckets: 30 October to 3 December 05:00 is read from two days,
// (3 December 2026 is day 20790 since 1970-01-01: its hour 4 is 498964)
// the month of November, two days and five hours.
func TestSpanBuckets(t *testing.T) {
	sys := period.UTC
	s := Span{From: day(2026, 10, 30), To: day(2026, 12, 3), Hours: 5}
	nov := int64(2026*12 + 10)
	want := []Bucket{{Day, day(2026, 10, 30)}, {Day, day(2026, 10, 31)}, {Month, nov}, {Day, day(2026, 12, 1)}, {Day, day(2026, 12, 2)}}
	for h := range int64(5) {
		want = append(want, Bucket{Hour, day(2026, 12, 3)*24 + h})
	}
	require.Equal(t, want, s.Buckets(sys))
	k, f := Locate(sys, "acme", "all", Bucket{Month, nov})
	require.Equal(t, []string{"cxpulse:{acme}:p:all:2026", "m24322"}, []string{k, f})
	k, f = Locate(sys, "acme", "all", Bucket{Hour, day(2026, 12, 3)*24 + 4})
	require.Equal(t, []string{"cxpulse:{acme}:ph:all:24323", "498964"}, []string{k, f})
}

// TestKept: at 3 December 2026 days are kept from 1 January 2025 to
// tomorrow, hours for November and December.
func TestKept(t *testing.T) {
	k := KeptAt(period.UTC, time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC))
	at := func(y int, m time.Month, d int) []Bucket {
		return k.Of(time.Date(y, m, d, 10, 30, 0, 0, time.UTC), nil)
	}
	require.Empty(t, at(2024, 12, 31), "before the previous year")
	require.Equal(t, []Bucket{{Day, day(2025, 1, 1)}, {Month, 2025 * 12}}, at(2025, 1, 1), "no hours a year back")
	require.Equal(t, []Bucket{{Day, day(2026, 10, 31)}, {Month, 2026*12 + 9}}, at(2026, 10, 31))
	require.Equal(t, []Bucket{{Day, day(2026, 11, 1)}, {Month, 2026*12 + 10}, {Hour, day(2026, 11, 1)*24 + 10}}, at(2026, 11, 1))
	require.Len(t, at(2026, 12, 4), 3, "tomorrow: events up to five minutes ahead")
	require.Empty(t, at(2026, 12, 5))
}

// TestToDateWeekAcrossTheYear: on Friday 1 January 2027 the week under way
// began on Monday 28 December 2026; each of its days is read from the year
// hash of its own year, so wtd sums both years' days.
func TestToDateWeekAcrossTheYear(t *testing.T) {
	td := ToDateOf(period.UTC, time.Date(2027, 1, 1, 10, 0, 0, 0, time.UTC))
	type read struct {
		year  int
		field string
	}
	got := map[string][]read{}
	for a, fs := range td.Fields {
		for _, f := range fs {
			got[period.Aliases[a]] = append(got[period.Aliases[a]], read{td.Years[f.Slot], f.Field})
		}
	}
	d := func(y int, m time.Month, dd int) string { return "d" + strconv.FormatInt(day(y, m, dd), 10) }
	require.Equal(t, []read{{2026, d(2026, 12, 28)}, {2026, d(2026, 12, 29)}, {2026, d(2026, 12, 30)}, {2026, d(2026, 12, 31)},
		{2027, d(2027, 1, 1)}, {2027, d(2027, 1, 2)}, {2027, d(2027, 1, 3)}}, got["wtd"])
	require.Equal(t, []read{{2027, d(2027, 1, 1)}}, got["today"])
	require.Equal(t, []read{{2027, "m" + strconv.Itoa(2027*12)}}, got["mtd"])
	require.Equal(t, time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC), td.Until)
}
