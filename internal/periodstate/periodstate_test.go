package periodstate

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/periodbuckets"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/testseed"
	"github.com/cxpulse/cxpulse/pkg/period"
)

type op struct {
	at, now time.Time
	c       stats.Counters
	sign    float64
}

// TestAgainstBruteForce: after random adds and retractions at a clock
// moving over two years, with Forget and an encode/decode round trip on
// the way, the sum of any span of kept days (and of the first hours of a
// day whose hours are kept) is the sum of the operations on those days
// (hours) that were kept when they were made: whole months and single days
// agree. For a UTC tenant and a Tehran tenant on the Persian calendar.
func TestAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(testseed.New(t), 9))
	tehran, err := time.LoadLocation("Asia/Tehran")
	require.NoError(t, err)
	for _, sys := range []period.System{period.UTC, {Loc: tehran, Calendar: period.Persian, WeekStart: time.Saturday}} {
		s := New()
		now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
		var ops []op
		for range 1500 {
			now = now.Add(time.Duration(rng.IntN(12*3600)) * time.Second)
			at := now.Add(-time.Duration(rng.Int64N(int64(500 * 24 * time.Hour))))
			var c stats.Counters
			c[stats.NPSResponses] = 1
			c[stats.Counter(rng.IntN(int(stats.NumCounters)))] += float64(1 + rng.IntN(100))
			sign := 1.0
			if len(ops) > 0 && rng.IntN(4) == 0 {
				prev := ops[rng.IntN(len(ops))]
				at, c, sign = prev.at, prev.c, -1
			}
			s.Add(periodbuckets.KeptAt(sys, now), at, &c, sign)
			ops = append(ops, op{at, now, c, sign})
			if rng.IntN(20) == 0 {
				s.Forget(periodbuckets.KeptAt(sys, now))
			}
			if rng.IntN(100) == 0 {
				back, err := Decode(s.Encode())
				require.NoError(t, err)
				s = back
			}
		}
		s.Forget(periodbuckets.KeptAt(sys, now))
		today := sys.Day(now)
		from := sys.RetainedFrom(today)
		kept := func(o op, day int64) bool {
			d := sys.Day(o.now)
			return day >= sys.RetainedFrom(d) && day <= d+1
		}
		for range 60 {
			span := periodbuckets.Span{From: from + rng.Int64N(today-from)}
			span.To = span.From + rng.Int64N(today+1-span.From)
			if rng.IntN(2) == 0 {
				span.To, span.Hours = today, rng.IntN(24)
			}
			var want stats.Counters
			for _, o := range ops {
				day := sys.Day(o.at)
				inDays := day >= span.From && day < span.To
				hour := sys.Hour(o.at)
				inHours := hour >= span.To*24 && hour < span.To*24+int64(span.Hours) && sys.Month(day) >= sys.Month(sys.Day(o.now))-periodbuckets.HoursKeptMonths+1
				if (inDays || inHours) && kept(o, day) {
					want.Add(&o.c, o.sign)
				}
			}
			require.Equal(t, want, s.Sum(sys, span), "%+v", span)
		}
	}
}

// TestDecodeRefuses: another layout and damaged bytes are named errors.
func TestDecodeRefuses(t *testing.T) {
	s := New()
	var c stats.Counters
	c[stats.NPSResponses] = 1
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	s.Add(periodbuckets.KeptAt(period.UTC, now), now, &c, 1)
	b := s.Encode()
	_, err := Decode(append([]byte{Layout + 1}, b[1:]...))
	require.ErrorContains(t, err, "layout 2/1, not 1/1")
	for n := 2; n < len(b); n++ {
		_, err = Decode(b[:n])
		require.Error(t, err, "cut at %d", n)
	}
	back, err := Decode(b)
	require.NoError(t, err)
	require.Equal(t, 1.0, back.Sum(period.UTC, periodbuckets.Span{From: period.UTC.Day(now), To: period.UTC.Day(now) + 1})[stats.NPSResponses])
}
