package importer

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/itchyny/timefmt-go"
)

// Time formats of --time-format besides strftime patterns.
const (
	TimeRFC3339 = "rfc3339"
	TimeUnix    = "unix"
	TimeUnixMs  = "unix_ms"
)

// zonelessLayouts are the forms an rfc3339 column may take without an
// offset; they are read in the import's zone.
var zonelessLayouts = []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"}

// parseTime reads v in format; a time without an offset is local time in
// loc. A local time the clocks skipped (a DST gap) is an error; one they
// passed twice is read as the earlier instant.
func parseTime(v, format string, loc *time.Location) (time.Time, error) {
	v = strings.TrimSpace(v)
	switch format {
	case TimeRFC3339:
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t, nil
		}
		for _, layout := range zonelessLayouts {
			if t, err := time.Parse(layout, v); err == nil {
				return inZone(t, loc, v)
			}
		}
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time such as 2026-03-08T14:30:00Z (or, in the import's zone, 2026-03-08 14:30:00)", v)
	case TimeUnix:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return time.Time{}, fmt.Errorf("%q is not Unix seconds", v)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
	case TimeUnixMs:
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not Unix milliseconds", v)
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := timefmt.Parse(v, format)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q does not match %s: %w", v, format, err)
	}
	if !zonelessFormat(format) {
		return t, nil // the value says its offset
	}
	return inZone(t, loc, v)
}

// zonelessFormat reports whether a strftime pattern reads times with no
// offset (no %z, %Z or %s).
func zonelessFormat(format string) bool {
	return !strings.Contains(format, "%z") && !strings.Contains(format, "%Z") && !strings.Contains(format, "%s")
}

// zoneless reports whether v, in format, is a time without an offset
// (one that needs the import's zone).
func zoneless(v, format string) bool {
	v = strings.TrimSpace(v)
	switch format {
	case TimeRFC3339:
		if _, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return false
		}
		for _, layout := range zonelessLayouts {
			if _, err := time.Parse(layout, v); err == nil {
				return true
			}
		}
		return false
	case TimeUnix, TimeUnixMs:
		return false
	}
	return v != "" && zonelessFormat(format)
}

// errNoZone is a time without an offset in an import whose zone is
// unknown.
var errNoZone = errors.New("has no offset, and the zone to read it in is unknown: give --timezone (or list the tenant, with its timezone, in the tenants file)")

// inZone reads the wall clock of t (parsed in UTC) in loc; nil loc is an
// unknown zone.
func inZone(t time.Time, loc *time.Location, v string) (time.Time, error) {
	if loc == nil {
		return time.Time{}, fmt.Errorf("%q %w", v, errNoZone)
	}
	local := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
	var found []time.Time
	for _, shift := range []time.Duration{-time.Hour, 0, time.Hour} {
		c := local.Add(shift).In(loc)
		if c.Year() == t.Year() && c.Month() == t.Month() && c.Day() == t.Day() && c.Hour() == t.Hour() &&
			c.Minute() == t.Minute() && c.Second() == t.Second() {
			found = append(found, c)
		}
	}
	if len(found) == 0 {
		return time.Time{}, fmt.Errorf("%q does not exist in %s (the clocks skipped it)", v, loc)
	}
	earliest := found[0]
	for _, c := range found[1:] {
		if c.Before(earliest) {
			earliest = c
		}
	}
	return earliest, nil
}

// integral matches a number written with a zero fraction, as spreadsheets
// and data frames write integer ids: 17850.0.
var integral = regexp.MustCompile(`^-?[0-9]+\.0+$`)

// fixID turns an id written as 17850.0 into 17850 with IDInteger; it
// reports whether it changed v.
func fixID(v, format string) (string, bool) {
	if format == IDInteger && integral.MatchString(v) {
		return v[:strings.IndexByte(v, '.')], true
	}
	return v, false
}

// ID formats of --id-format.
const (
	IDInteger = "integer"
	IDKeep    = "keep"
)

func parseInt(v string) (int, error) {
	v = strings.TrimSpace(v)
	if integral.MatchString(v) {
		v = v[:strings.IndexByte(v, '.')]
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", v)
	}
	return n, nil
}

func parseNumber(v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%q is not a number (digits with a dot for decimals)", v)
	}
	return f, nil
}
