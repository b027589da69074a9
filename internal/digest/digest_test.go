package digest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/pkg/period"
)

// TestClosed: the period a digest reports is the last closed day or week
// in the tenant's zone and calendar, whatever UTC says.
func TestClosed(t *testing.T) {
	ber, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	teh, err := time.LoadLocation("Asia/Tehran")
	require.NoError(t, err)
	berlin := period.System{Loc: ber, Calendar: period.Gregorian, WeekStart: time.Monday}
	tehran := period.System{Loc: teh, Calendar: period.Persian, WeekStart: time.Saturday}
	for _, c := range []struct {
		sys     period.System
		cadence string
		now     time.Time
		want    string
	}{
		// 23:30 UTC on the 22nd is 00:30 on the 23rd in Berlin.
		{berlin, Daily, time.Date(2026, 11, 22, 23, 30, 0, 0, time.UTC), "day:2026-11-22"},
		{berlin, Daily, time.Date(2026, 11, 22, 22, 30, 0, 0, time.UTC), "day:2026-11-21"},
		// Monday 23 November 2026, 00:30 in Berlin: the week of the 16th closed.
		{berlin, Weekly, time.Date(2026, 11, 22, 23, 30, 0, 0, time.UTC), "week:2026-11-16"},
		// Sunday 29 November 2026 is 1405-09-08 in Tehran (22 November is
		// 1 Azar): the Persian week under way began on Saturday 1405-09-07;
		// the closed one on Saturday 21 November, 1405-08-30 (Aban has 30
		// days).
		{tehran, Weekly, time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC), "week:1405-08-30"},
	} {
		require.Equal(t, c.want, c.sys.Name(Closed(c.sys, c.cadence, c.now)), "%s %s at %s", c.sys.Loc, c.cadence, c.now)
	}
	for _, bad := range []string{"hourly", "Daily"} {
		_, err := ParseCadence(bad)
		require.ErrorContains(t, err, "is not daily, weekly or off")
	}
}
