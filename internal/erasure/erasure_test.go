package erasure

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/window"
)

func TestParseStored(t *testing.T) {
	at := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, receipt string
		covers        time.Time
	}{
		{"a receipt from before covers_until covers up to its erasure",
			`{"erased_at":"2026-11-22T12:00:00Z","events_retracted":1,"windows_and_periods_changed":[],"keys_removed":3}`, at},
		{"covers_until dated ahead",
			`{"erased_at":"2026-11-22T12:00:00Z","covers_until":"2026-11-22T12:04:00Z","events_retracted":2,"windows_and_periods_changed":["24h"],"keys_removed":5}`,
			at.Add(4 * time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := parseStored(tc.receipt)
			require.NoError(t, err)
			require.True(t, st.ErasedAt.Equal(at))
			require.True(t, st.CoversUntil.Equal(tc.covers), "covers until %s", st.CoversUntil)
			r := st.receipt("acme", "c-1", false)
			require.True(t, r.CoversUntil.Equal(tc.covers))
			require.NotNil(t, r.WindowsAndPeriodsChanged)
		})
	}
	_, err := parseStored("{")
	require.ErrorContains(t, err, "stored receipt")
}

// TestSetDropsUpToCoversUntil: an erased customer's events up to the
// receipt's covers_until are dropped, later ones count; an earlier receipt
// kept beside a second erasure counts among the erasures but decides
// nothing.
func TestSetDropsUpToCoversUntil(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	ws, err := window.Parse(window.DefaultSpec)
	require.NoError(t, err)
	set := NewSet(store.New(rdb, ws, 24*time.Hour), rdb, "secret")
	h := NewHasher([]byte("secret"))
	field := h.Hash("acme", "c-1")
	require.NoError(t, rdb.HSet(t.Context(), "cxpulse:{acme}:erased",
		field, `{"erased_at":"2026-11-22T13:00:00Z","covers_until":"2026-11-22T13:03:00Z","events_retracted":1,"keys_removed":2}`,
		field+"#1795395600000", `{"erased_at":"2026-11-22T12:00:00Z","covers_until":"2026-11-22T12:04:00Z","events_retracted":2,"keys_removed":5}`).Err())
	n, err := set.Load(t.Context(), "acme")
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	covers := time.Date(2026, 11, 22, 13, 3, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		customer string
		at       time.Time
		want     bool
	}{
		{"before the first erasure", "c-1", covers.Add(-2 * time.Hour), true},
		{"between the two", "c-1", covers.Add(-30 * time.Minute), true},
		{"at covers_until", "c-1", covers, true},
		{"a millisecond after", "c-1", covers.Add(time.Millisecond), false},
		{"another customer", "c-2", covers.Add(-time.Hour), false},
		{"no customer", "", covers.Add(-time.Hour), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, set.Erased("acme", tc.customer, tc.at))
		})
	}
}

func TestIndexRecords(t *testing.T) {
	at := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	entry := func(b []byte, id string, rev int64, occurred time.Time) []byte {
		r := dedupe.Record{ID: id, Revision: rev, Arrival: time.UnixMilli(0), OccurredAt: occurred, Type: "survey.response",
			Scopes: []string{"all"}}
		return store.AppendIndexEntry(b, id, r.AppendTo(nil))
	}
	var raw []byte
	raw = entry(raw, "b", 0, at)
	raw = entry(raw, "a", 0, at.Add(-time.Hour))
	raw = entry(raw, "b", 1, at.Add(-2*24*time.Hour)) // a revision moving b two days back
	all, latest, err := indexRecords("acme", string(raw))
	require.NoError(t, err)
	require.Len(t, all, 3, "every entry, revisions included (their days hold comment words)")
	require.Len(t, latest, 2)
	require.Equal(t, []string{"a", "b"}, []string{latest[0].ID, latest[1].ID}, "sorted by id")
	require.EqualValues(t, 1, latest[1].Revision, "the later entry of an id replaces the earlier")
	require.True(t, latest[1].OccurredAt.Equal(at.Add(-2*24*time.Hour)))
	_, _, err = indexRecords("acme", "3:ab")
	require.ErrorContains(t, err, "tenant acme")
}
