package plan

import (
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/window"
)

var planNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// answerAt is an NPS answer item of customer c-1 at store s1, with terms
// as the classifier would find them.
func answerAt(id string, rev int64, score int, at time.Time, terms ...string) *Item {
	ev := events.Event{ID: id, Revision: rev, Type: events.TypeSurveyResponse, Tenant: "acme", OccurredAt: at, CustomerID: "c-1",
		Survey: &events.Survey{Metric: events.MetricNPS, Score: score, Comment: fmt.Sprint(terms)}}
	return &Item{Msg: &kafka.Message{Topic: "cx.surveys", Offset: int64(rev)}, Event: ev, Scopes: []string{"all", "store=s1"}, Terms: terms}
}

// stored is what the store remembers of an applied item.
func stored(it *Item) *dedupe.Record {
	return &dedupe.Record{ID: it.Event.ID, Revision: it.Event.Revision, OccurredAt: it.Event.OccurredAt, Type: string(it.Event.Type),
		Scopes: it.Scopes, Counters: stats.Contribution(&it.Event), CustomerID: it.Event.CustomerID, Terms: it.Terms}
}

// termChanges lists a plan's term changes as "scope bucket term n",
// sorted; hour and day buckets are named h and d (one each here).
func termChanges(p *Plan) []string {
	var out []string
	for _, td := range p.Slice.Terms {
		out = append(out, fmt.Sprintf("%s %c %s %+d", td.Scope, td.Bucket[0], td.Term, td.N))
	}
	sort.Strings(out)
	return out
}

// samples lists a plan's samples as "scope id text" or "scope id drop".
func samples(p *Plan) []string {
	var out []string
	for _, s := range p.Slice.Samples {
		what := s.Text
		if s.Drop {
			what = "drop"
		}
		out = append(out, s.Scope+" "+s.ID+" "+what)
	}
	sort.Strings(out)
	return out
}

// both lists, for each scope of the answers, the term change in the hour
// and the day bucket.
func both(term string, n int) []string { return inScopes([]string{"all", "store=s1"}, term, n) }

// others lists the term change of the tenant's other respondents in the
// hour and the day bucket.
func others(term string, n int) []string { return inScopes([]string{"~others"}, term, n) }

func inScopes(scopes []string, term string, n int) []string {
	var out []string
	for _, sc := range scopes {
		for _, b := range "dh" {
			out = append(out, fmt.Sprintf("%s %c %s %+d", sc, b, term, n))
		}
	}
	return out
}

func join(lists ...[]string) []string { return slices.Concat(lists...) }

func TestMake(t *testing.T) {
	ws, err := window.Parse("1h,24h,7d")
	require.NoError(t, err)
	at := planNow.Add(-30 * time.Minute)
	old := answerAt("r-1", 0, 2, at, "late", "refund")
	for _, tc := range []struct {
		name      string
		known     *dedupe.Record
		item      *Item
		retention time.Duration
		applied   int
		revisions int
		dups      int
		letter    string // the reason of the one dead letter
		terms     []string
		samples   []string
		words     []string // comment words kept for erasure: "id revision terms", or "id drop"
	}{
		{name: "a new commented detractor", item: old, applied: 1,
			terms:   join(both("#comments", 1), both("late", 1), both("refund", 1)),
			samples: []string{"all r-1 [late refund]", "store=s1 r-1 [late refund]"}},
		{name: "a revision with another comment retracts the old words", known: stored(old), item: answerAt("r-1", 1, 3, at, "rude"), revisions: 1,
			terms:   append(append(both("late", -1), both("refund", -1)...), both("rude", 1)...),
			samples: []string{"all r-1 [rude]", "store=s1 r-1 [rude]"}},
		{name: "a revision without a comment drops the sample", known: stored(old), item: answerAt("r-1", 1, 9, at), revisions: 1,
			terms:   join(both("#comments", -1), both("late", -1), both("refund", -1)),
			samples: []string{"all r-1 drop", "store=s1 r-1 drop"}},
		{name: "the same revision number with another payload is a repeat", known: stored(old), item: answerAt("r-1", 0, 10, at, "great"), dups: 1},
		{name: "a revision that changes the type", known: stored(old),
			item: func() *Item {
				it := answerAt("r-1", 1, 0, at)
				it.Event.Type, it.Event.Survey = events.TypeTicketOpened, nil
				it.Event.Ticket = &events.Ticket{TicketID: "t-1"}
				return it
			}(), letter: "revision_conflict"},
		{name: "a revision that changes the customer", known: stored(old),
			item: func() *Item { it := answerAt("r-1", 1, 2, at, "late"); it.Event.CustomerID = "c-2"; return it }(), letter: "revision_conflict"},
		{name: "a comment older than the retention leaves no text", item: answerAt("r-2", 0, 1, planNow.Add(-3*time.Hour), "slow"),
			retention: 2 * time.Hour, applied: 1},
		{name: "a promoter's comment counts tenant-wide for the others, with no sample", item: answerAt("r-3", 0, 9, at, "great", "staff"),
			applied: 1, terms: join(others("#comments", 1), others("great", 1), others("staff", 1))},
		{name: "a revision to a promoter moves the words to the others", known: stored(old), item: answerAt("r-1", 1, 10, at, "late", "refund"),
			revisions: 1, terms: join(both("#comments", -1), both("late", -1), both("refund", -1), others("#comments", 1), others("late", 1), others("refund", 1)),
			samples: []string{"all r-1 drop", "store=s1 r-1 drop"}},
		{name: "under a retention the words are kept apart for erasure", item: old, retention: 30 * 24 * time.Hour, applied: 1,
			terms:   join(both("#comments", 1), both("late", 1), both("refund", 1)),
			samples: []string{"all r-1 [late refund]", "store=s1 r-1 [late refund]"}, words: []string{"r-1 0 [late refund]"}},
		{name: "under a retention a revision replaces the kept words", known: stored(old), item: answerAt("r-1", 1, 3, at, "rude"),
			retention: 30 * 24 * time.Hour, revisions: 1,
			terms:   append(append(both("late", -1), both("refund", -1)...), both("rude", 1)...),
			samples: []string{"all r-1 [rude]", "store=s1 r-1 [rude]"}, words: []string{"r-1 drop", "r-1 1 [rude]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &Input{Windows: ws, Now: planNow, Known: map[string]*dedupe.Record{}, CommentRetention: tc.retention}
			if tc.known != nil {
				in.Known[tc.known.ID] = tc.known
			}
			p, err := Make(in, []*Item{tc.item})
			require.NoError(t, err)
			require.Equal(t, []int{tc.applied, tc.revisions, tc.dups}, []int{p.Applied, p.Revisions, p.Dups}, "applied, revisions, repeats")
			if tc.letter == "" {
				require.Empty(t, p.Slice.Letters)
			} else {
				require.Len(t, p.Slice.Letters, 1)
				require.Equal(t, tc.letter, p.Slice.Letters[0].Reason)
				require.Empty(t, p.Slice.Deltas, "the earlier version stays counted")
			}
			sort.Strings(tc.terms)
			require.Equal(t, tc.terms, termChanges(p))
			require.Equal(t, tc.samples, samples(p))
			var words []string
			for _, cw := range p.Slice.CommentWords {
				if cw.Terms == nil {
					words = append(words, cw.ID+" drop")
				} else {
					words = append(words, fmt.Sprintf("%s %d %v", cw.ID, cw.Revision, cw.Terms))
				}
			}
			require.Equal(t, tc.words, words)
			for _, ix := range p.Slice.Index {
				if tc.retention > 0 {
					require.Nil(t, ix.Record.Terms, "under a retention the index keeps no words")
				} else {
					require.Equal(t, tc.item.Terms, ix.Record.Terms)
				}
			}
		})
	}
}
