package aggregate

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/pkg/window"
)

// TestCompactKeepsEveryVisibleFigure checks, on random histories, that
// forgetting the entries past the horizon changes nothing any window shows
// at that instant or later: the counts in held buckets, the active
// customers with the start of their spells, and the referral conversion.
func TestCompactKeepsEveryVisibleFigure(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	ws, err := window.Parse("1h,24h,7d,30d,90d")
	require.NoError(t, err)
	day := int64(24 * time.Hour / time.Millisecond)
	base := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC).UnixMilli()
	visible := func(d derived, now int64) map[string]int {
		out := map[string]int{}
		for _, dc := range d.counts {
			for wi, w := range ws {
				if w.Holds(w.Index(time.UnixMilli(dc.at)), time.UnixMilli(now)) {
					out[fmt.Sprintf("%d/%s/%d/%d", dc.counter, dc.scope, wi, w.Index(time.UnixMilli(dc.at)))]++
				}
			}
		}
		return out
	}
	for _, inactivity := range []time.Duration{90 * window.Day, 0} {
		h := newCustomerHorizon(ws[len(ws)-1], inactivity)
		for range 2000 {
			c := &customer{}
			at := base - rng.Int64N(400*day)
			for at < base {
				e := entry{ID: fmt.Sprintf("e%d", rng.IntN(1e6)), At: at}
				if rng.IntN(8) == 0 {
					e.Cancel = true
				} else {
					e.Scopes = []string{"all", fmt.Sprintf("store=%d", rng.IntN(3))}
					if rng.IntN(4) == 0 {
						e.Code = "R1"
					}
				}
				c.upsert(e)
				at += rng.Int64N(120 * day)
			}
			now := base + rng.Int64N(200*day)
			cut := *c
			cut.Events = append([]entry(nil), c.Events...)
			keep := cut.compact(now, h)
			if d := cut.derive("k", now, h).due; keep && d != 0 {
				require.Greater(t, d, now, "a compacted record is not due again at once")
			}
			for _, later := range []int64{now, now + rng.Int64N(100*day)} {
				a, b := c.derive("k", later, h), cut.derive("k", later, h)
				if !keep {
					b = derived{active: map[string]int64{}}
				}
				require.Equal(t, visible(a, later), visible(b, later), "counts at +%dd (inactivity %s)", (later-now)/day, inactivity)
				require.Equal(t, a.active, b.active, "active at +%dd (inactivity %s, now %d)\nfull %+v\ncompacted %+v", (later-now)/day, inactivity, now, c, cut)
				if a.conv != b.conv {
					// Only a conversion no window holds may differ.
					require.Less(t, a.convAt, later-h.visible)
				}
			}
		}
	}
}
