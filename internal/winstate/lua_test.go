package winstate_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/internal/testseed"
	"github.com/cxpulse/cxpulse/internal/winstate"
	"github.com/cxpulse/cxpulse/pkg/period"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// TestSameAsTheScripts: the same stream of answers and retractions, at a
// clock that moves on, applied to the Redis counters by the apply and
// sweep scripts and to the window state in Go, leaves every window total
// of every scope the same: the state in Go is a drop-in for the counters
// hash (a real redis-server).
func TestSameAsTheScripts(t *testing.T) {
	rng := rand.New(rand.NewPCG(testseed.New(t), 17))
	rdb, _ := testenv.Redis(t)
	ws, err := window.Parse(window.DefaultSpec)
	require.NoError(t, err)
	st := store.New(rdb, ws, 24*time.Hour)
	ctx := t.Context()
	scopes := []string{"all", "store=s1", "store=s2"}
	state := map[string]*winstate.Scope{}
	for _, sc := range scopes {
		state[sc] = winstate.New(ws)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	type answer struct {
		at     time.Time
		scopes []string
		c      stats.Counters
	}
	var counted []answer
	offset := int64(0)
	for step := range 300 {
		now = now.Add(time.Duration(rng.IntN(4*3600)) * time.Second)
		a := answer{at: now.Add(-time.Duration(rng.Int64N(int64(95 * 24 * time.Hour)))), scopes: []string{"all", scopes[1+rng.IntN(2)]}}
		a.c[stats.NPSResponses] = 1
		a.c[[]stats.Counter{stats.NPSPromoters, stats.NPSDetractors}[rng.IntN(2)]] = 1
		sign := 1.0
		if len(counted) > 0 && rng.IntN(4) == 0 {
			a, sign = counted[rng.IntN(len(counted))], -1 // a revision takes it back
		} else {
			counted = append(counted, a)
		}
		// What the planner sends: the answer's bucket in each window that
		// holds it at now.
		sl := &store.Slice{Tenant: "acme", Now: now, Ranges: []store.Range{{Partition: "cx.surveys/0", Epoch: 1, Start: offset, End: offset + 1}}}
		offset++
		for _, sc := range a.scopes {
			for wi, w := range ws {
				if b := w.Index(a.at); w.Holds(b, now) {
					d := store.Delta{Scope: sc, Window: wi, Bucket: b, Counters: a.c}
					if sign < 0 {
						d.Counters = stats.Counters{}
						d.Counters.Add(&a.c, -1)
					}
					sl.Deltas = append(sl.Deltas, d)
				}
			}
			state[sc].Advance(now)
			state[sc].Add(a.at, &a.c, sign, now)
		}
		res, err := st.Apply(ctx, sl)
		require.NoError(t, err)
		require.Equal(t, store.Applied, res.Outcome)
		if step%20 == 19 {
			for {
				n, err := st.Sweep(ctx, "acme", period.UTC, now, 2000)
				require.NoError(t, err)
				if n < 2000 {
					break
				}
			}
			for _, sc := range scopes {
				state[sc].Advance(now)
				got, err := st.ScopeCounters(ctx, "acme", sc)
				require.NoError(t, err)
				for wi, w := range ws {
					want, err := got.Total(w.Name)
					require.NoError(t, err)
					require.Equal(t, want, state[sc].Total(wi), "%s %s at step %d", sc, w.Name, step)
				}
			}
		}
	}
	all := state["all"].Total(len(ws) - 1)
	require.Positive(t, all[stats.NPSResponses], "the comparison held answers")
	require.Less(t, all[stats.NPSResponses], float64(len(counted)), "and some had left the windows")
}
