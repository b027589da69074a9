package customers

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/valyala/fastjson"

	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/testseed"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// TestCompactKeepsEveryVisibleFigure checks, on random histories, that
// forgetting the entries past the horizon changes nothing any window shows
// at that instant or later: the counts in held buckets, the active
// customers with the start of their spells, and the referral conversion.
func TestCompactKeepsEveryVisibleFigure(t *testing.T) {
	seed := testseed.New(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	ws, err := window.Parse("1h,24h,7d,30d,90d")
	require.NoError(t, err)
	day := int64(24 * time.Hour / time.Millisecond)
	base := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC).UnixMilli()
	visible := func(d Derived, now int64) map[string]int {
		out := map[string]int{}
		for _, dc := range d.counts {
			for wi, w := range ws {
				if w.Holds(w.Index(time.UnixMilli(dc.At)), time.UnixMilli(now)) {
					out[fmt.Sprintf("%d/%s/%d/%d", dc.Counter, dc.Scope, wi, w.Index(time.UnixMilli(dc.At)))]++
				}
			}
		}
		return out
	}
	for _, inactivity := range []time.Duration{90 * window.Day, 0} {
		h := NewHorizon(ws[len(ws)-1], inactivity)
		for range 2000 {
			c := &History{}
			at := base - rng.Int64N(400*day)
			for at < base {
				e := Entry{ID: fmt.Sprintf("e%d", rng.IntN(1e6)), At: at}
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
			cut.Events = append([]Entry(nil), c.Events...)
			keep := cut.compact(now, h)
			if d := cut.derive(now, h).due; keep && d != 0 {
				require.Greater(t, d, now, "a compacted record is not due again at once")
			}
			for _, later := range []int64{now, now + rng.Int64N(100*day)} {
				a, b := c.derive(later, h), cut.derive(later, h)
				if !keep {
					b = Derived{active: map[string]int64{}}
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

// TestCustomerRecordRoundTrip: a record written by Encode is valid JSON,
// means what encoding/json would write for it (field for field), and reads
// back as the same history, for names holding quotes, backslashes, control
// characters and non-ASCII text.
func TestCustomerRecordRoundTrip(t *testing.T) {
	seed := testseed.New(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	pieces := []string{"a", "store=s1", `"`, `\`, "\x00", "\x1f", "\n", "é", "店", "🙂", "region=eu", "\u2028", "<>&"}
	word := func() string {
		s := ""
		for range 1 + rng.IntN(4) {
			s += pieces[rng.IntN(len(pieces))]
		}
		return s
	}
	for range 2000 {
		c := &History{AsOf: rng.Int64N(1 << 45)}
		scopes := []string{word(), word(), word()}
		for range rng.IntN(6) {
			e := Entry{ID: word(), At: rng.Int64N(1 << 45), Cancel: rng.IntN(5) == 0}
			if !e.Cancel {
				e.Scopes = scopes[:1+rng.IntN(3)]
				if rng.IntN(3) == 0 {
					e.Code = word()
				}
			}
			c.Events = append(c.Events, e)
		}
		if rng.IntN(3) == 0 {
			c.First = &Entry{ID: word(), At: rng.Int64N(1 << 45), Scopes: scopes[1:]}
		}
		if rng.IntN(3) == 0 {
			c.Carry = map[string]Spell{word(): {Since: 1, Last: 2}, word(): {Since: rng.Int64N(1 << 40), Last: rng.Int64N(1 << 40)}}
		}
		got := c.Encode()
		require.True(t, json.Valid(got), "%s", got)

		// Field for field what encoding/json writes for the same record.
		ref := *c
		ref.Names = nil
		index := map[string]int{}
		refer := func(e Entry) Entry {
			e.Refs = nil
			for _, sc := range e.Scopes {
				n, ok := index[sc]
				if !ok {
					n = len(ref.Names)
					index[sc] = n
					ref.Names = append(ref.Names, sc)
				}
				e.Refs = append(e.Refs, n)
			}
			return e
		}
		ref.Events = nil
		for _, e := range c.Events {
			ref.Events = append(ref.Events, refer(e))
		}
		if c.First != nil {
			f := refer(*c.First)
			ref.First = &f
		}
		want, err := json.Marshal(&ref)
		require.NoError(t, err)
		var a, b any
		require.NoError(t, json.Unmarshal(got, &a))
		require.NoError(t, json.Unmarshal(want, &b))
		require.Equal(t, b, a)

		// The record reads the same as encoding/json reads it.
		var viaJSON History
		require.NoError(t, json.Unmarshal(got, &viaJSON))
		parsed, err := fastjson.ParseBytes(got)
		require.NoError(t, err)
		raw, err := decodeHistory(parsed)
		require.NoError(t, err)
		require.Equal(t, &viaJSON, raw)

		back, err := Decode("x", got)
		require.NoError(t, err)
		for i := range c.Events {
			require.Equal(t, c.Events[i].ID, back.Events[i].ID)
			require.Equal(t, c.Events[i].Code, back.Events[i].Code)
			require.Equal(t, len(c.Events[i].Scopes), len(back.Events[i].Scopes))
			for j := range c.Events[i].Scopes {
				require.Equal(t, c.Events[i].Scopes[j], back.Events[i].Scopes[j])
			}
		}
		require.Equal(t, len(c.Carry), len(back.Carry))
		for sc, sp := range c.Carry {
			require.Equal(t, sp, back.Carry[sc])
		}
	}
}

// TestCacheDropTenant: after an erasure an instance forgets every cached
// customer of the tenant, and only of that tenant.
func TestCacheDropTenant(t *testing.T) {
	c := NewCache(10)
	c.Put("acme", map[string]*Known{"a": Absent(), "b": Absent()})
	c.Put("acme2", map[string]*Known{"a": Absent()})
	c.DropTenant("acme")
	_, missing := c.Get("acme", []string{"a", "b"})
	require.Equal(t, []string{"a", "b"}, missing)
	got, missing := c.Get("acme2", []string{"a"})
	require.Empty(t, missing)
	require.Len(t, got, 1)
}

// TestDecodeNamesAWrongField: a field of the wrong type is refused, named
// with its place in the record.
func TestDecodeNamesAWrongField(t *testing.T) {
	for rec, want := range map[string]string{
		`{"e":[{"i":1,"a":5}],"t":1}`:           `e[0]: i:`,
		`{"e":[{"i":"o","a":"5"}],"t":1}`:       `e[0]: a:`,
		`{"c":{"all":{"a":1,"l":"x"}},"t":1}`:   `c["all"]: l:`,
		`{"c":{"all":3},"t":1}`:                 `c["all"]: number where an object belongs`,
		`{"t":1,"n":["all",2]}`:                 `n[1]:`,
		`{"e":[{"i":"o","a":5,"s":[3]}],"t":1}`: `scope 3 of 0`,
	} {
		_, err := Decode("x", []byte(rec))
		require.ErrorContains(t, err, want, rec)
		require.ErrorContains(t, err, `record of customer "x"`, rec)
	}
}

// TestFirstOnlyEntries: a first-only purchase (older than the horizon, or
// a customer_since) may be the first one, counted new at its time in its
// scopes, but is no purchaser and starts no spell; a customer_since tied
// with the first real order leaves that order first, with its referral
// code, and the customer is new once. The counts are written out by hand.
func TestFirstOnlyEntries(t *testing.T) {
	ws, err := window.Parse("1h,24h,7d,30d,90d")
	require.NoError(t, err)
	h := NewHorizon(ws[len(ws)-1], 30*window.Day)
	day := int64(24 * time.Hour / time.Millisecond)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC).UnixMilli()
	counts := func(c *History) []string {
		var out []string
		for _, k := range c.derive(now, h).counts {
			out = append(out, fmt.Sprintf("%d %s %d", k.Counter, k.Scope, (now-k.At)/day))
		}
		return out
	}
	s1 := []string{"all", "store=s1"}
	old := &History{}
	old.upsert(Entry{ID: "p-old", At: now - 250*day, Scopes: s1, FirstOnly: true})
	old.upsert(Entry{ID: "p-new", At: now - 10*day, Scopes: s1})
	require.True(t, old.compact(now, h))
	require.Equal(t, "p-old", old.First.ID, "the old purchase is kept as the first")
	require.ElementsMatch(t, []string{
		fmt.Sprintf("%d all 250", stats.CustomersNew), fmt.Sprintf("%d all 10", stats.Purchasers), fmt.Sprintf("%d all 10", stats.Activations),
		fmt.Sprintf("%d store=s1 250", stats.CustomersNew), fmt.Sprintf("%d store=s1 10", stats.Purchasers), fmt.Sprintf("%d store=s1 10", stats.Activations),
	}, counts(old))

	tie := &History{}
	at := now - 5*day
	tie.upsert(Entry{ID: "zz" + SinceSuffix, At: at, Scopes: s1, FirstOnly: true})
	tie.upsert(Entry{ID: "aa", At: at, Scopes: s1, Code: "R1"})
	d := tie.derive(now, h)
	require.Equal(t, "R1", d.conv, "the real order is first at a tie, with its referral code")
	require.ElementsMatch(t, []string{
		fmt.Sprintf("%d all 5", stats.CustomersNew), fmt.Sprintf("%d all 5", stats.ReferredNew), fmt.Sprintf("%d all 5", stats.Purchasers), fmt.Sprintf("%d all 5", stats.Activations),
		fmt.Sprintf("%d store=s1 5", stats.CustomersNew), fmt.Sprintf("%d store=s1 5", stats.ReferredNew), fmt.Sprintf("%d store=s1 5", stats.Purchasers), fmt.Sprintf("%d store=s1 5", stats.Activations),
	}, counts(tie), "new once")

	back, err := Decode("c", old.Encode())
	require.NoError(t, err)
	require.True(t, back.First.FirstOnly, "the mark is stored")
}
