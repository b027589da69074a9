package importer

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestParseTime: each format, zones, and both DST changes of New York in
// 2026 (clocks forward 8 March 02:00 EST, back 1 November 02:00 EDT),
// against instants worked out by hand.
func TestParseTime(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	for _, tc := range []struct {
		v, format string
		want      string // RFC 3339 UTC, "" for an error
		err       string
	}{
		{"2026-11-28T09:12:44Z", TimeRFC3339, "2026-11-28T09:12:44Z", ""},
		{"2026-11-28T09:12:44+03:30", TimeRFC3339, "2026-11-28T05:42:44Z", ""},
		{"2026-11-28 09:12:44", TimeRFC3339, "2026-11-28T14:12:44Z", ""}, // EST
		{"2026-07-01", TimeRFC3339, "2026-07-01T04:00:00Z", ""},          // EDT midnight
		{"2026-03-08 01:59:59", TimeRFC3339, "2026-03-08T06:59:59Z", ""},
		{"2026-03-08 02:30:00", TimeRFC3339, "", "does not exist in America/New_York"},
		{"2026-03-08 03:00:00", TimeRFC3339, "2026-03-08T07:00:00Z", ""},
		{"2026-11-01 01:30:00", TimeRFC3339, "2026-11-01T05:30:00Z", ""}, // twice: the earlier, EDT
		{"2026-11-01 02:30:00", TimeRFC3339, "2026-11-01T07:30:00Z", ""},
		{"1795348800", TimeUnix, "2026-11-22T12:00:00Z", ""},
		{"1795348800.5", TimeUnix, "2026-11-22T12:00:00.5Z", ""},
		{"1795348800123", TimeUnixMs, "2026-11-22T12:00:00.123Z", ""},
		{"28/11/2026 09:12", "%d/%m/%Y %H:%M", "2026-11-28T14:12:00Z", ""},
		{"2026-11-20 10:05:00 +0200", "%Y-%m-%d %H:%M:%S %z", "2026-11-20T08:05:00Z", ""},
		{"yesterday", TimeRFC3339, "", "is not an RFC 3339 time"},
		{"12:00", "%Y-%m-%d", "", "does not match %Y-%m-%d"},
		{"soon", TimeUnix, "", "is not Unix seconds"},
	} {
		got, err := parseTime(tc.v, tc.format, ny)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.v)
			continue
		}
		require.NoError(t, err, tc.v)
		require.Equal(t, tc.want, got.UTC().Format(time.RFC3339Nano), tc.v)
	}
}

func TestFixID(t *testing.T) {
	for v, want := range map[string]string{"17850.0": "17850", "-3.00": "-3", "17850.5": "17850.5", "C-1.0": "C-1.0", "42": "42"} {
		got, _ := fixID(v, IDInteger)
		require.Equal(t, want, got, v)
		kept, changed := fixID(v, IDKeep)
		require.Equal(t, v, kept)
		require.False(t, changed)
	}
}

// TestProgressLine: rows, rate, rejects, and with a known size a bar and
// the time left.
func TestProgressLine(t *testing.T) {
	r := &run{total: 1000}
	r.read.Store(300)
	r.rejected.Store(2)
	r.bytes.Store(250)
	line := r.progressLine(time.Now().Add(-10 * time.Second))
	require.Contains(t, line, "[######                  ]  25%")
	require.Contains(t, line, "300 rows")
	require.Contains(t, line, "2 rejected")
	require.Contains(t, line, "ETA 30s")

	// A terminal gets the line redrawn in place and a last one ended.
	var b bytes.Buffer
	r.opts = Options{Progress: &b, Terminal: true}
	stop := r.showProgress(time.Now())
	stop()
	require.True(t, strings.HasPrefix(b.String(), "\r"))
	require.True(t, strings.HasSuffix(b.String(), "\n"))
}
