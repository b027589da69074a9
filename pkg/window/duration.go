package window

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Day is 24 hours; cxpulse windows are counted in UTC, without daylight
// saving shifts.
const Day = 24 * time.Hour

// ParseDuration parses a duration as time.ParseDuration does, and also
// accepts whole days ("7d", "90d") and days followed by smaller units
// ("1d12h").
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if i := strings.IndexByte(in, 'd'); i > 0 {
		days, err := strconv.ParseUint(in[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration", s)
		}
		d := time.Duration(days) * Day
		if rest := in[i+1:]; rest != "" {
			more, err := time.ParseDuration(rest)
			if err != nil || more < 0 {
				return 0, fmt.Errorf("%q is not a duration", s)
			}
			d += more
		}
		return d, nil
	}
	d, err := time.ParseDuration(in)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	return d, nil
}

// FormatDuration writes d the way window names are written: whole days
// beyond one as "7d", whole hours as "24h", whole minutes as "2m", else in
// Go's form.
func FormatDuration(d time.Duration) string {
	switch {
	case d > Day && d%Day == 0:
		return strconv.FormatInt(int64(d/Day), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}
