package periodbuckets

import (
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
