package window_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/testseed"
	"github.com/cxpulse/cxpulse/pkg/window"
)

func TestBucketSizes(t *testing.T) {
	for _, tc := range []struct {
		window, bucket string
	}{
		{"24m", "1m"}, {"47m", "1m"}, {"48m", "2m"}, {"1h", "2m"}, {"23h", "2m"},
		{"24h", "1h"}, {"6d", "6h"}, {"7d", "6h"}, {"24d", "1d"}, {"30d", "1d"},
		{"72d", "3d"}, {"90d", "3d"}, {"365d", "3d"},
	} {
		t.Run(tc.window, func(t *testing.T) {
			w, err := window.ParseDuration(tc.window)
			require.NoError(t, err)
			b, err := window.ParseDuration(tc.bucket)
			require.NoError(t, err)
			got, err := window.BucketSize(w)
			require.NoError(t, err)
			require.Equal(t, b, got)
		})
	}
	_, err := window.BucketSize(23 * time.Minute)
	require.EqualError(t, err, "23m is shorter than the minimum 24m")
}

func TestParse(t *testing.T) {
	ws, err := window.Parse("7d, 1h,90d,24h,30d")
	require.NoError(t, err)
	var names []string
	for _, w := range ws {
		names = append(names, w.Name+"/"+window.FormatDuration(w.Bucket))
	}
	require.Equal(t, []string{"1h/2m", "24h/1h", "7d/6h", "30d/24h", "90d/3d"}, names)

	for spec, msg := range map[string]string{
		"1h,10m": `window "10m": 10m is shorter than the minimum 24m`,
		"7x":     `"7x" is not a duration`,
		"1h,60m": `window "60m" is listed twice`,
		" , ":    "at least one window is needed",
	} {
		_, err := window.Parse(spec)
		require.EqualError(t, err, msg, spec)
	}
}

// TestMembershipAgainstReference checks Holds and TooLate against a
// direct transcription of docs/windows.md on random events and instants: an event
// counts in window W at now when its bucket (aligned to the epoch) starts
// after now − W and no later than now + 5m.
func TestMembershipAgainstReference(t *testing.T) {
	seed := testseed.New(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	ws, err := window.Parse("24m,1h,24h,7d,30d,90d")
	require.NoError(t, err)
	base := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for range 2000 {
		now := base.Add(time.Duration(rng.Int64N(int64(200 * window.Day))))
		for range 50 {
			ev := now.Add(-time.Duration(rng.Int64N(int64(100*window.Day))) + time.Duration(rng.Int64N(int64(10*time.Minute))))
			if rng.IntN(4) == 0 { // near a boundary of the largest window
				ev = now.Add(-90*window.Day + time.Duration(rng.Int64N(int64(6*window.Day))) - 3*window.Day)
			}
			for _, w := range ws {
				bucketStart := referenceBucketStart(ev, w.Bucket)
				want := bucketStart.After(now.Add(-w.Length)) && !bucketStart.After(now.Add(window.FutureTolerance))
				require.Equal(t, want, w.Holds(w.Index(ev), now), "seed %d window %s event %s now %s", seed, w.Name, ev, now)
				require.Equal(t, !bucketStart.After(now.Add(-w.Length)), w.TooLate(ev, now), "seed %d", seed)
				if want {
					require.True(t, now.Before(w.Leaves(w.Index(ev))))
					require.False(t, w.Holds(w.Index(ev), w.Leaves(w.Index(ev))))
				}
			}
		}
	}
}

// referenceBucketStart counts whole buckets from the Unix epoch.
func referenceBucketStart(t time.Time, bucket time.Duration) time.Time {
	epoch := time.Unix(0, 0).UTC()
	since := t.Sub(epoch)
	return epoch.Add(since - since%bucket)
}

func TestWorkedExample(t *testing.T) {
	// 24h window, 1h buckets, now 10:30: buckets starting after 10:30 the
	// day before hold: 11:00 yesterday … 10:00 today, plus 10:35 ahead
	// which is still the 10:00 bucket.
	w, err := window.New(24 * time.Hour)
	require.NoError(t, err)
	now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	first, last := w.Span(now)
	require.Equal(t, time.Date(2026, 11, 21, 11, 0, 0, 0, time.UTC), w.Start(first))
	require.Equal(t, time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), w.Start(last))
	require.True(t, w.TooLate(time.Date(2026, 11, 21, 10, 59, 59, 0, time.UTC), now))
	require.False(t, w.TooLate(time.Date(2026, 11, 21, 11, 0, 0, 0, time.UTC), now))
	// At 10:55 the next bucket (11:00) is within the 5-minute tolerance.
	_, last = w.Span(now.Add(25 * time.Minute))
	require.Equal(t, time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC), w.Start(last))
	require.True(t, window.InFuture(now.Add(5*time.Minute+time.Millisecond), now))
	require.False(t, window.InFuture(now.Add(5*time.Minute), now))
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90d": 90 * window.Day, "1d12h": 36 * time.Hour, "45m": 45 * time.Minute, "1.5h": 90 * time.Minute,
	} {
		got, err := window.ParseDuration(in)
		require.NoError(t, err)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "d", "-1d", "7dd", "7d-1h", "x"} {
		_, err := window.ParseDuration(in)
		require.Error(t, err, in)
	}
}
