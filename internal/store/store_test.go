package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/internal/store/views"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/period"
	"github.com/cxpulse/cxpulse/pkg/window"
)

func newStore(t *testing.T) *store.Store {
	t.Helper()
	s, _ := newStoreWith(t, "1h,24h")
	return s
}

// newStoreWith starts a redis-server and returns a store over the windows
// of spec with a 24 h dedupe horizon, and the client.
func newStoreWith(t testing.TB, spec string) (*store.Store, *redis.Client) {
	t.Helper()
	rdb, _ := testenv.Redis(t)
	ws, err := window.Parse(spec)
	require.NoError(t, err)
	return store.New(rdb, ws, 24*time.Hour), rdb
}

func nps(score int) stats.Counters {
	var c stats.Counters
	c[stats.NPSResponses] = 1
	switch {
	case score >= 9:
		c[stats.NPSPromoters] = 1
	case score <= 6:
		c[stats.NPSDetractors] = 1
	}
	return c
}

func TestApplyWatermarkConflictFenceAndSweep(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	ev := now.Add(-10 * time.Minute)
	w1h, w24h := s.Windows()[0], s.Windows()[1]
	deltas := func(c stats.Counters) []store.Delta {
		return []store.Delta{
			{Scope: "all", Window: 0, Bucket: w1h.Index(ev), Counters: c},
			{Scope: "all", Window: 1, Bucket: w24h.Index(ev), Counters: c},
		}
	}
	// Three responses: 10, 9 (promoters), 3 (detractor), pre-aggregated.
	var c stats.Counters
	for _, sc := range []int{10, 9, 3} {
		x := nps(sc)
		c.Add(&x, 1)
	}
	sl := &store.Slice{Tenant: "acme", Ranges: []store.Range{{Partition: "cx.surveys/0", Epoch: 1, Start: 0, End: 3}}, Now: now,
		IDs:     []dedupe.Check{{ID: "a", Expect: dedupe.NewEvent}, {ID: "b", Expect: dedupe.NewEvent}, {ID: "c", Expect: dedupe.NewEvent}},
		Records: []dedupe.Record{{ID: "a", Arrival: now, OccurredAt: ev, Type: "survey.response", Scopes: []string{"all"}, Counters: nps(10)}, {ID: "b", Arrival: now, OccurredAt: ev, Type: "survey.response", Scopes: []string{"all"}, Counters: nps(9)}, {ID: "c", Revision: 2, Arrival: now, OccurredAt: ev, Type: "survey.response", Scopes: []string{"all"}, Counters: nps(3), CustomerID: "c|1"}},
		Deltas:  deltas(c),
	}
	res, err := s.Apply(ctx, sl)
	require.NoError(t, err)
	require.Equal(t, store.Applied, res.Outcome)

	v, err := s.View(ctx, "acme", "all")
	require.NoError(t, err)
	// By hand: n=3, P=2/3, D=1/3: NPS = 100·(2−1)/3 = 33.333…;
	// moe = 1.96·100·√((1 − 1/9)/3) = 1.96·100·√(8/27).
	require.Equal(t, "3", v["1h:nps_responses"])
	require.Equal(t, "2", v["24h:nps_promoters"])
	require.Equal(t, "0", v["1h:nps_passives"])
	require.Equal(t, "33.333333333333336", v["1h:nps"])
	require.Equal(t, "106.68888657455621", v["1h:nps_moe95"]) // 196·√(8/27), worked out in Python
	require.Equal(t, "33.333333333333336", v["24h:detractor_share"])
	require.Equal(t, "0", v["1h:csat_responses"])
	require.NotContains(t, v, "1h:csat")
	require.Equal(t, "1", v["seq"])
	require.Equal(t, "1795343400000", v["updated_at"])

	// The same range again is skipped by the watermark.
	res, err = s.Apply(ctx, sl)
	require.NoError(t, err)
	require.Equal(t, store.Skipped, res.Outcome)
	require.Equal(t, map[string]int64{"cx.surveys/0": 3}, res.Watermarks)

	// A new range repeating id c is a conflict returning its record.
	sl2 := &store.Slice{Tenant: "acme", Ranges: []store.Range{{Partition: "cx.surveys/0", Epoch: 1, Start: 3, End: 4}}, Now: now,
		IDs: []dedupe.Check{{ID: "c", Expect: dedupe.NewEvent}}}
	res, err = s.Apply(ctx, sl2)
	require.NoError(t, err)
	require.Equal(t, store.Conflict, res.Outcome)
	rec := res.Conflicts["c"]
	require.NotNil(t, rec)
	require.EqualValues(t, 2, rec.Revision)
	require.Equal(t, "c|1", rec.CustomerID)
	require.Equal(t, nps(3), rec.Counters)
	require.True(t, ev.Equal(rec.OccurredAt))

	// An older epoch is fenced once a newer one wrote.
	sl3 := &store.Slice{Tenant: "acme", Ranges: []store.Range{{Partition: "cx.surveys/0", Epoch: 2, Start: 3, End: 4}}, Now: now}
	res, err = s.Apply(ctx, sl3)
	require.NoError(t, err)
	require.Equal(t, store.Applied, res.Outcome)
	sl4 := &store.Slice{Tenant: "acme", Ranges: []store.Range{{Partition: "cx.surveys/0", Epoch: 1, Start: 4, End: 5}}, Now: now}
	res, err = s.Apply(ctx, sl4)
	require.NoError(t, err)
	require.Equal(t, store.Fenced, res.Outcome)

	// After the 1h window passes the bucket (10:20 → bucket 10:20-10:22
	// leaves at 11:20), the sweeper drops it from 1h only.
	n, err := s.Sweep(ctx, "acme", period.UTC, time.Date(2026, 11, 22, 11, 19, 59, 0, time.UTC), 100)
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = s.Sweep(ctx, "acme", period.UTC, time.Date(2026, 11, 22, 11, 20, 0, 0, time.UTC), 100)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	v, err = s.View(ctx, "acme", "all")
	require.NoError(t, err)
	require.Equal(t, "0", v["1h:nps_responses"])
	require.NotContains(t, v, "1h:nps")
	require.NotContains(t, v, "1h:nps_moe95")
	require.Equal(t, "3", v["24h:nps_responses"])
	require.Equal(t, "2", v["seq"])
}

func TestAdmitCapsValues(t *testing.T) {
	s := newStore(t)
	got, err := s.Admit(t.Context(), "acme", "store", []string{"a", "b", "c", "a"}, 2)
	require.NoError(t, err)
	require.Equal(t, []bool{true, true, false, true}, got)
}

// TestViewChangesMatchFullWrites: a store sends only the view fields that
// changed since its own last write, and writes in full once another
// instance wrote the view in between. After every write the view must be
// what a full write of the same totals gives on an empty key, including a
// ratio deleted when its denominator returns to 0.
func TestViewChangesMatchFullWrites(t *testing.T) {
	s1, rdb := newStoreWith(t, "1h,24h")
	s2 := store.New(rdb, s1.Windows(), 24*time.Hour) // another instance
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	ev := now.Add(-10 * time.Minute)
	var seq sequence
	apply := func(s *store.Store, c stats.Counters) []views.Totals {
		t.Helper()
		var deltas []store.Delta
		for i, w := range s.Windows() {
			deltas = append(deltas, store.Delta{Scope: "all", Window: i, Bucket: w.Index(ev), Counters: c})
		}
		views := seq.apply(t, s, &store.Slice{Tenant: "acme", Now: now, Deltas: deltas})
		return views
	}
	checks := 0
	same := func(views []views.Totals, what string) {
		t.Helper()
		checks++
		tenant := fmt.Sprintf("check%d", checks)
		for _, v := range views { // a view is written only for counters at its version
			require.NoError(t, rdb.HSet(ctx, "cxpulse:{"+tenant+"}:s:"+v.Scope, "v", v.Version).Err())
		}
		fresh := store.New(rdb, s1.Windows(), 24*time.Hour)
		require.NoError(t, fresh.WriteViews(ctx, tenant, now, views))
		want, err := fresh.View(ctx, tenant, "all")
		require.NoError(t, err)
		got, err := s1.View(ctx, "acme", "all")
		require.NoError(t, err)
		require.Equal(t, want, got, what)
	}
	csat := func(n float64) stats.Counters {
		var c stats.Counters
		c[stats.CSATResponses], c[stats.CSATSatisfied], c[stats.CSATSum], c[stats.CSATSumSq] = n, n, 5*n, 25*n
		return c
	}
	same(apply(s1, nps(10)), "first write, in full")
	same(apply(s1, csat(1)), "a change to the first write")
	v, err := s1.View(ctx, "acme", "all")
	require.NoError(t, err)
	require.Equal(t, "100", v["1h:csat"])
	// Another instance counts a detractor and writes the view; then this
	// one retracts it (as a revision would). Every NPS field is back to
	// what this instance last wrote, but not to what the view holds: only
	// a full write gets it right.
	apply(s2, nps(3))
	retract := nps(3)
	for i := range retract {
		retract[i] = -retract[i]
	}
	same(apply(s1, retract), "base no longer current: written in full")
	v, err = s1.View(ctx, "acme", "all")
	require.NoError(t, err)
	require.Equal(t, "1", v["1h:nps_responses"])
	require.Equal(t, "0", v["1h:nps_detractors"])
	same(apply(s1, csat(-1)), "a change deleting a ratio")
	v, err = s1.View(ctx, "acme", "all")
	require.NoError(t, err)
	require.NotContains(t, v, "1h:csat", "the ratio goes with its last response")
	same(apply(s1, nps(9)), "a change again")
	same(apply(s1, csat(2)), "the ratio back")
}

// TestThemeTermCounts: term changes add up per scope and bucket, and a term
// whose count falls to 0 (a revised comment) is gone, not left at 0.
func TestThemeTermCounts(t *testing.T) {
	s, rdb := newStoreWith(t, "1h,24h")
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	var seq sequence
	apply := func(terms ...store.TermDelta) {
		t.Helper()
		seq.apply(t, s, &store.Slice{Tenant: "acme", Now: now, Terms: terms})
	}
	apply(store.TermDelta{Scope: "all", Bucket: "h1", Term: keys.CommentsField, N: 4},
		store.TermDelta{Scope: "all", Bucket: "h1", Term: "refund", N: 3}, store.TermDelta{Scope: "all", Bucket: "h1", Term: "late", N: 1},
		store.TermDelta{Scope: "all", Bucket: "d1", Term: "refund", N: 3}, store.TermDelta{Scope: "store=s1", Bucket: "h1", Term: "refund", N: 2})
	apply(store.TermDelta{Scope: "all", Bucket: "h1", Term: "refund", N: -3}, store.TermDelta{Scope: "all", Bucket: "h1", Term: "late", N: 2},
		store.TermDelta{Scope: "all", Bucket: "h1", Term: "slow", N: 1})
	got, comments, err := s.TermCounts(ctx, "acme", "all", []string{"h1"})
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"late": 3, "slow": 1}, got)
	require.EqualValues(t, 4, comments, "the comments counted apart from the terms")
	got, _, err = s.TermCounts(ctx, "acme", "all", []string{"h1", "d1"})
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"late": 3, "slow": 1, "refund": 3}, got)
	got, _, err = s.TermCounts(ctx, "acme", "store=s1", []string{"h1"})
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"refund": 2}, got)
	n, err := rdb.HExists(ctx, "cxpulse:{acme}:terms:all:h1", "refund").Result()
	require.NoError(t, err)
	require.False(t, n, "a term at 0 is deleted")
}

// sequence applies slices as consecutive one-message ranges of one
// partition, each of which must apply.
type sequence struct{ offset int64 }

func (q *sequence) apply(t *testing.T, s *store.Store, sl *store.Slice) []views.Totals {
	t.Helper()
	sl.Ranges = []store.Range{{Partition: "cx.surveys/0", Epoch: 1, Start: q.offset, End: q.offset + 1}}
	q.offset++
	res, err := s.Apply(t.Context(), sl)
	require.NoError(t, err)
	require.Equal(t, store.Applied, res.Outcome)
	return res.Views
}

// TestScriptConstantsFollowGo: the constants the scripts share with Go are
// the Go values, as the server sees them.
func TestScriptConstantsFollowGo(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	got, err := rdb.Eval(t.Context(), store.LuaConstants()+"return {NC, SAMPLES_KEPT, TERMS_KEPT, OUTBOX_CAP}", nil).Int64Slice()
	require.NoError(t, err)
	require.Equal(t, []int64{int64(stats.NumCounters), store.SamplesKept, store.TermsKept, store.OutboxCap}, got)
}

// TestSweepForgetsEveryOldIDPeriod: after an outage longer than several
// dedupe periods, the sweep deletes every id period older than the
// previous one, not only the last few.
func TestSweepForgetsEveryOldIDPeriod(t *testing.T) {
	s, rdb := newStoreWith(t, "1h,24h")
	ctx := t.Context()
	day := 24 * time.Hour
	start := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var seq sequence
	remember := func(at time.Time, id string) {
		seq.apply(t, s, &store.Slice{Tenant: "acme", Now: at, IDs: []dedupe.Check{{ID: id, Expect: dedupe.NewEvent}},
			Records: []dedupe.Record{{ID: id, Arrival: at, OccurredAt: at, Type: "survey.response", Scopes: []string{"all"}}}})
	}
	idPeriod := func(at time.Time) int64 { return at.UnixMilli() / day.Milliseconds() }
	remember(start, "a")
	_, err := s.Sweep(ctx, "acme", period.UTC, start, 100)
	require.NoError(t, err)
	// Ten days pass with an id a day and no sweep, then one sweep.
	for d := 1; d <= 10; d++ {
		remember(start.Add(time.Duration(d)*day), fmt.Sprintf("d%d", d))
	}
	now := start.Add(10 * day)
	_, err = s.Sweep(ctx, "acme", period.UTC, now, 100)
	require.NoError(t, err)
	for p := idPeriod(start); p <= idPeriod(now); p++ {
		n, err := rdb.Exists(ctx, fmt.Sprintf("cxpulse:{acme}:ids:%d", p)).Result()
		require.NoError(t, err)
		want := int64(0)
		if p >= idPeriod(now)-1 {
			want = 1 // the current and the previous period stay
		}
		require.Equal(t, want, n, "period %d (now is %d)", p, idPeriod(now))
	}
}

// TestViewAfterACrashBetweenScriptAndView: a slice's script runs and the
// instance dies before writing the view (its 1h window changed); the next
// slice of the scope changes only the 24h window. The view written then
// must carry the 1h change too, on this instance and on one that wrote the
// view before the crash (its cached base is still the view in Redis).
func TestViewAfterACrashBetweenScriptAndView(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cached bool // the writing instance wrote the view before the crash
	}{{"fresh instance", false}, {"instance with a cached view", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s1, rdb := newStoreWith(t, "1h,24h")
			ctx := t.Context()
			now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
			w1h, w24h := s1.Windows()[0], s1.Windows()[1]
			var seq sequence
			recent, old := now.Add(-10*time.Minute), now.Add(-5*time.Hour)
			both := func(at time.Time, c stats.Counters) []store.Delta {
				d := []store.Delta{{Scope: "store=1", Window: 1, Bucket: w24h.Index(at), Counters: c}}
				if w1h.Holds(w1h.Index(at), now) {
					d = append(d, store.Delta{Scope: "store=1", Window: 0, Bucket: w1h.Index(at), Counters: c})
				}
				return d
			}
			writer := s1
			if tc.cached {
				seq.apply(t, s1, &store.Slice{Tenant: "acme", Now: now, Deltas: both(recent, nps(10))})
			} else {
				writer = store.New(rdb, s1.Windows(), 24*time.Hour)
			}
			// The crashed instance: script only.
			sl := &store.Slice{Tenant: "acme", Now: now, Deltas: both(recent, nps(3)),
				Ranges: []store.Range{{Partition: "cx.surveys/0", Epoch: 1, Start: seq.offset, End: seq.offset + 1}}}
			seq.offset++
			res, err := store.New(rdb, s1.Windows(), 24*time.Hour).ApplyScript(ctx, sl)
			require.NoError(t, err)
			require.Equal(t, store.Applied, res.Outcome)
			// The next slice: an event five hours old, in 24h only.
			seq.apply(t, writer, &store.Slice{Tenant: "acme", Now: now, Deltas: both(old, nps(9))})
			v, err := writer.View(ctx, "acme", "store=1")
			require.NoError(t, err)
			n1h, n24h := 1, 2
			if tc.cached {
				n1h, n24h = 2, 3
			}
			require.Equal(t, fmt.Sprint(n1h), v["1h:nps_responses"], "1h holds the crashed slice's response")
			require.Equal(t, "1", v["1h:nps_detractors"])
			require.Equal(t, fmt.Sprint(n24h), v["24h:nps_responses"])
		})
	}
}

// TestBoundedThemesAndOutbox: a theme bucket keeps at most TermsKept
// terms, and a slice whose dead letters would overfill its tenant's outbox
// writes nothing and says so.
func TestBoundedThemesAndOutbox(t *testing.T) {
	s, rdb := newStoreWith(t, "1h,24h")
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	var seq sequence
	var terms []store.TermDelta
	for i := range store.TermsKept + 5 {
		terms = append(terms, store.TermDelta{Scope: "all", Bucket: "h1", Term: fmt.Sprintf("w%04d", i), N: 1})
	}
	seq.apply(t, s, &store.Slice{Tenant: "acme", Now: now, Terms: terms})
	n, err := rdb.HLen(ctx, "cxpulse:{acme}:terms:all:h1").Result()
	require.NoError(t, err)
	require.EqualValues(t, store.TermsKept, n)

	filler := make([]any, store.OutboxCap)
	for i := range filler {
		filler[i] = "x"
	}
	require.NoError(t, rdb.RPush(ctx, "cxpulse:{acme}:outbox", filler...).Err())
	res, err := s.Apply(ctx, &store.Slice{Tenant: "acme", Now: now, Ranges: []store.Range{{Partition: "cx.surveys/0", Epoch: 1, Start: seq.offset, End: seq.offset + 1}},
		Letters: []store.Letter{{Reason: "too_late", Source: "cx.surveys/0/9"}}})
	require.NoError(t, err)
	require.Equal(t, store.OutboxFull, res.Outcome)
	wm, err := rdb.HGet(ctx, "cxpulse:{acme}:wm", "cx.surveys/0").Int64()
	require.NoError(t, err)
	require.Equal(t, seq.offset, wm, "nothing written")
}

// TestIndexEntriesFrameAnyID: index entries are framed by length, so ids
// and records holding the separators read back as written.
func TestIndexEntriesFrameAnyID(t *testing.T) {
	want := []store.IndexEvent{{ID: "a:b", Record: "0|0|1|x|all||"}, {ID: "12:\n9", Record: ""}, {ID: "é", Record: "3:4|5"}}
	var b []byte
	for _, e := range want {
		b = store.AppendIndexEntry(b, e.ID, []byte(e.Record))
	}
	got, err := store.ParseIndex(string(b))
	require.NoError(t, err)
	require.Equal(t, want, got)
	_, err = store.ParseIndex("5:abc")
	require.ErrorContains(t, err, "contribution index is corrupt")
}

// TestIndexGrowsAndErasureKeepsLaterEntries: a customer's index takes each
// slice's entries in order, lives as long as its longest-lived entry
// needs (never shorter), and an erasure leaves only the entries of events
// after it, with the time to live the index had.
func TestIndexGrowsAndErasureKeepsLaterEntries(t *testing.T) {
	s, rdb := newStoreWith(t, "1h,24h")
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	key := keys.Index("acme", "c1")
	var offset int64
	apply := func(sl *store.Slice) {
		t.Helper()
		sl.Tenant, sl.Now = "acme", now
		sl.Ranges = []store.Range{{Partition: "cx.purchases/0", Epoch: 1, Start: offset, End: offset + 1}}
		offset++
		res, err := s.Apply(ctx, sl)
		require.NoError(t, err)
		require.Equal(t, store.Applied, res.Outcome)
	}
	entry := func(id string, at time.Time, until time.Duration) store.IndexEntry {
		return store.IndexEntry{Customer: "c1", Until: now.Add(until),
			Record: dedupe.Record{ID: id, Arrival: now, OccurredAt: at, Type: "purchase.completed", Scopes: []string{"all"}}}
	}
	apply(&store.Slice{Index: []store.IndexEntry{entry("o1", now.Add(-time.Hour), 48*time.Hour)}})
	apply(&store.Slice{Index: []store.IndexEntry{entry("o2", now.Add(-time.Minute), 72*time.Hour), entry("o3", now.Add(time.Hour), 24*time.Hour)}})
	apply(&store.Slice{Index: []store.IndexEntry{entry("o4", now.Add(-2*time.Minute), time.Hour)}})
	ttl := rdb.PTTL(ctx, key).Val()
	require.InDelta(t, float64(72*time.Hour), float64(ttl), float64(time.Minute), "the longest need, not the last entry's")

	raw, err := s.Index(ctx, "acme", "c1")
	require.NoError(t, err)
	got, err := store.ParseIndex(raw)
	require.NoError(t, err)
	require.Len(t, got, 4)
	require.Equal(t, []string{"o1", "o2", "o3", "o4"}, []string{got[0].ID, got[1].ID, got[2].ID, got[3].ID})

	// An erasure deletes the whole index, o3 dated ahead of it included;
	// erased again, the first receipt is kept under the field and the
	// instant, and the new one replaces it.
	apply(&store.Slice{Erase: &store.Erase{Customer: "c1", Field: "h1", Receipt: []byte(`{"tenant":"acme"`), Index: raw, Removed: 4}})
	left, err := s.Index(ctx, "acme", "c1")
	require.NoError(t, err)
	require.Empty(t, left)
	require.Zero(t, rdb.Exists(ctx, key).Val())
	receipt, err := rdb.HGet(ctx, keys.Erased("acme"), "h1").Result()
	require.NoError(t, err)
	require.Equal(t, `{"tenant":"acme","keys_removed":4}`, receipt)

	apply(&store.Slice{Index: []store.IndexEntry{entry("o5", now.Add(time.Minute), time.Hour)}, Erasures: 1})
	raw, err = s.Index(ctx, "acme", "c1")
	require.NoError(t, err)
	res, err := s.Apply(ctx, &store.Slice{Tenant: "acme", Now: now, Erasures: 1,
		Erase: &store.Erase{Customer: "c1", Field: "h1", Receipt: []byte(`{"again":1`), Index: raw, Removed: 1}})
	require.NoError(t, err)
	require.Equal(t, store.AlreadyErased, res.Outcome, "a first erasure of an erased customer is answered the first receipt")
	require.Equal(t, receipt, res.Receipt)
	apply(&store.Slice{Erasures: 1, Erase: &store.Erase{Customer: "c1", Field: "h1", Receipt: []byte(`{"again":1`), Again: receipt, Index: raw, Removed: 1}})
	all, err := rdb.HGetAll(ctx, keys.Erased("acme")).Result()
	require.NoError(t, err)
	require.Equal(t, map[string]string{"h1": `{"again":1,"keys_removed":1}`, fmt.Sprintf("h1#%d", now.UnixMilli()): receipt}, all)
}
