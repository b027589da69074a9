package periodstate_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/periodbuckets"
	"github.com/cxpulse/cxpulse/internal/periodstate"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/internal/testseed"
	"github.com/cxpulse/cxpulse/pkg/period"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// TestSameAsTheScripts: the same answers and retractions, at a clock that
// moves on over a year and a half, applied to the Redis period hashes by
// the apply script (and swept by the sweeper) and to the period state in
// Go, give the same sums for random spans of kept days and hours, and the
// same to-date sums, for a Tehran tenant on the Persian calendar (a real
// redis-server).
func TestSameAsTheScripts(t *testing.T) {
	rng := rand.New(rand.NewPCG(testseed.New(t), 19))
	rdb, _ := testenv.Redis(t)
	ws, err := window.Parse(window.DefaultSpec)
	require.NoError(t, err)
	st := store.New(rdb, ws, 24*time.Hour)
	ctx := t.Context()
	tehran, err := time.LoadLocation("Asia/Tehran")
	require.NoError(t, err)
	sys := period.System{Loc: tehran, Calendar: period.Persian, WeekStart: time.Saturday}
	state := map[string]*periodstate.Scope{"all": periodstate.New(), "store=s1": periodstate.New()}
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	type answer struct {
		at time.Time
		c  stats.Counters
	}
	var counted []answer
	check := func() {
		t.Helper()
		today := sys.Day(now)
		from := sys.RetainedFrom(today)
		var spans []periodbuckets.Span
		for range 20 {
			sp := periodbuckets.Span{From: from + rng.Int64N(today-from)}
			sp.To = sp.From + rng.Int64N(today+1-sp.From)
			if rng.IntN(2) == 0 {
				sp.To, sp.Hours = today, rng.IntN(24)
			}
			spans = append(spans, sp)
		}
		td := periodbuckets.ToDateOf(sys, now)
		for sc, s := range state {
			s.Forget(periodbuckets.KeptAt(sys, now))
			got, err := st.PeriodSums(ctx, "acme", sc, sys, spans)
			require.NoError(t, err)
			for i, sp := range spans {
				require.Equal(t, got[i], s.Sum(sys, sp), "%s %+v", sc, sp)
			}
			sums, err := st.ToDateSums(ctx, "acme", sc, &td)
			require.NoError(t, err)
			for k, alias := range period.Aliases {
				p := sys.Containing(period.Kind(k), today)
				require.Equal(t, sums[alias], s.Sum(sys, periodbuckets.SpanOf(p)), "%s %s", sc, alias)
			}
		}
	}
	for step := range 400 {
		now = now.Add(time.Duration(rng.IntN(36*3600)) * time.Second)
		a := answer{at: now.Add(-time.Duration(rng.Int64N(int64(400 * 24 * time.Hour))))}
		a.c[stats.NPSResponses] = 1
		a.c[[]stats.Counter{stats.NPSPromoters, stats.NPSDetractors}[rng.IntN(2)]] = 1
		sign := 1.0
		if len(counted) > 0 && rng.IntN(4) == 0 {
			a, sign = counted[rng.IntN(len(counted))], -1
		} else {
			counted = append(counted, a)
		}
		kept := periodbuckets.KeptAt(sys, now)
		sl := &store.Slice{Tenant: "acme", Now: now, Periods: sys,
			Ranges: []store.Range{{Partition: "cx.surveys/0", Epoch: 1, Start: int64(step), End: int64(step) + 1}}}
		var c stats.Counters
		c.Add(&a.c, sign)
		for _, sc := range []string{"all", "store=s1"} {
			for _, b := range kept.Of(a.at, nil) {
				sl.PeriodDeltas = append(sl.PeriodDeltas, store.PeriodDelta{Scope: sc, Bucket: b, Counters: c})
			}
			state[sc].Add(kept, a.at, &a.c, sign)
		}
		res, err := st.Apply(ctx, sl)
		require.NoError(t, err)
		require.Equal(t, store.Applied, res.Outcome)
		if step%25 == 24 {
			require.NoError(t, st.SweepPeriods(ctx, "acme", sys, now))
			check()
		}
	}
	today := sys.Day(now)
	kept := state["all"].Sum(sys, periodbuckets.Span{From: sys.RetainedFrom(today), To: today + 1})
	require.Positive(t, kept[stats.NPSResponses], "the comparison held answers")
}
