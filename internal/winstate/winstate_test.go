package winstate

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/testseed"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// op is one Add as the reference keeps it.
type op struct {
	at, now time.Time
	c       stats.Counters
	sign    float64
}

// TestAgainstBruteForce: after random adds and retractions at a clock
// that moves on, with Advance now and then and the state encoded and
// decoded on the way, every window's total is the sum of the operations
// whose bucket the window held both when they were made and now.
func TestAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(testseed.New(t), 7))
	ws, err := window.Parse("1h,24h,7d,30d,90d")
	require.NoError(t, err)
	for range 20 {
		s := New(ws)
		now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
		var ops []op
		for range 400 {
			now = now.Add(time.Duration(rng.IntN(6*3600)) * time.Second)
			at := now.Add(-time.Duration(rng.Int64N(int64(100 * 24 * time.Hour))))
			var c stats.Counters
			c[stats.NPSResponses] = 1
			c[stats.Counter(rng.IntN(int(stats.NumCounters)))] += float64(1 + rng.IntN(5000))
			sign := 1.0
			if len(ops) > 0 && rng.IntN(4) == 0 {
				// Retract an earlier operation's counters, as a revision does.
				prev := ops[rng.IntN(len(ops))]
				at, c, sign = prev.at, prev.c, -1
			}
			s.Add(at, &c, sign, now)
			ops = append(ops, op{at, now, c, sign})
			if rng.IntN(10) == 0 {
				s.Advance(now)
			}
			if rng.IntN(50) == 0 {
				back, err := Decode(ws, s.Encode())
				require.NoError(t, err)
				s = back
			}
		}
		s.Advance(now)
		for wi, w := range ws {
			var want stats.Counters
			for _, o := range ops {
				b := w.Index(o.at)
				f0, l0 := w.Span(o.now)
				f1, l1 := w.Span(now)
				if b >= f0 && b <= l0 && b >= f1 && b <= l1 {
					want.Add(&o.c, o.sign)
				}
			}
			require.Equal(t, want, s.Total(wi), w.Name)
		}
	}
}

// TestByHand: one answer in the 1h window (2-minute buckets) leaves it an
// hour after its bucket starts; a retraction after that takes nothing out.
func TestByHand(t *testing.T) {
	ws, err := window.Parse("1h,24h")
	require.NoError(t, err)
	s := New(ws)
	now := time.Date(2026, 11, 22, 10, 31, 0, 0, time.UTC)
	var c stats.Counters
	c[stats.NPSResponses], c[stats.NPSDetractors] = 1, 1
	s.Add(now, &c, 1, now)
	require.Equal(t, 1.0, s.Total(0)[stats.NPSResponses])
	require.Equal(t, time.Date(2026, 11, 22, 11, 30, 0, 0, time.UTC), s.NextLeave().UTC(), "the bucket [10:30, 10:32) leaves 1h at 11:30")
	later := time.Date(2026, 11, 22, 11, 30, 0, 0, time.UTC)
	require.True(t, s.Advance(later))
	require.Zero(t, s.Total(0)[stats.NPSResponses])
	require.Equal(t, 1.0, s.Total(1)[stats.NPSDetractors], "still in 24h")
	s.Add(now, &c, -1, later) // a revision of the answer, after it left 1h
	require.Zero(t, s.Total(0)[stats.NPSResponses], "not taken out twice")
	require.Zero(t, s.Total(1)[stats.NPSDetractors])
	require.False(t, s.Advance(later))
}

// TestDecodeRefuses: another layout, other windows and damaged bytes are
// named errors.
func TestDecodeRefuses(t *testing.T) {
	ws, err := window.Parse("1h,24h")
	require.NoError(t, err)
	s := New(ws)
	var c stats.Counters
	c[stats.NPSResponses] = 1
	now := time.Date(2026, 11, 22, 10, 31, 0, 0, time.UTC)
	s.Add(now, &c, 1, now)
	b := s.Encode()
	other, err := window.Parse("1h,7d")
	require.NoError(t, err)
	_, err = Decode(other, b)
	require.ErrorContains(t, err, `window 1 is "24h", not "7d"`)
	_, err = Decode(ws, append([]byte{Layout + 1}, b[1:]...))
	require.ErrorContains(t, err, "layout 2/1, not 1/1")
	for n := 2; n < len(b); n++ {
		_, err = Decode(ws, b[:n])
		require.Error(t, err, "cut at %d", n)
	}
}

// BenchmarkAdd is one event added to the default windows of a scope whose
// buckets are filled, with an Advance every 100 events: the in-memory
// cost that replaces a bucket update in a script.
func BenchmarkAdd(b *testing.B) {
	ws, err := window.Parse(window.DefaultSpec)
	require.NoError(b, err)
	s := New(ws)
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	var c stats.Counters
	c[stats.NPSResponses], c[stats.NPSPromoters] = 1, 1
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(time.Second)
		s.Add(now.Add(-time.Duration(rng.Int64N(int64(80*24*time.Hour)))), &c, 1, now)
		if i%100 == 0 {
			s.Advance(now)
		}
	}
}
