package publish

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/pkg/window"
)

// TestHourlyWindow: the CUSUM runs over the hourly buckets of the longest
// window that has them (bucket size is the largest of 1m, 2m, 1h, 6h, 1d,
// 3d at most a 24th of the window: 24h up to 5d have hours).
func TestHourlyWindow(t *testing.T) {
	for _, tc := range []struct {
		spec, want string
	}{
		{"1h,24h,7d,30d,90d", "24h"},
		{"1h,24h,2d,7d", "2d"},
		{"1h,5d,30d", "5d"},
		{"1h,7d,30d", ""},
	} {
		ws, err := window.Parse(tc.spec)
		require.NoError(t, err)
		w, ok := hourlyWindow(ws)
		require.Equal(t, tc.want != "", ok, tc.spec)
		if ok {
			require.Equal(t, tc.want, w.Name, tc.spec)
			require.Equal(t, time.Hour, w.Bucket)
		}
	}
}

func TestProblemSummary(t *testing.T) {
	require.Equal(t, "tenant acme: bucket 24h:491 unreadable …", problemSummary(errors.New("tenant acme: bucket 24h:491 unreadable\n  at offset 3")))
	require.Equal(t, "one line", problemSummary(errors.New("one line")))
}
