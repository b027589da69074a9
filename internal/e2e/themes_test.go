package e2e

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/api"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// themeLang is one language's comments: detractors at store s1 write the
// planted word (in every spelling listed) among function words and
// fillers; everyone else writes the same function words and fillers.
type themeLang struct {
	tenant    string
	planted   []string // one word, every spelling; the first is its term
	function  []string // function words, each a stop word of the language
	fillers   []string
	notTerms  []string // what must never be a term (pieces of joined words)
	joinWords []string // words held together by a ZWNJ, used as fillers too
}

var themeLangs = []themeLang{
	{tenant: "en", planted: []string{"refund"}, function: []string{"is", "my", "not", "the", "after", "don't", "was", "very"},
		fillers: []string{"delivery", "store", "staff", "price", "app", "order", "checkout", "queue"}},
	{tenant: "fa", planted: []string{"کیفیت", "كيفيت"}, function: []string{"از", "را", "که", "این", "با", "به", "بود", "اين"},
		fillers:  []string{"فروشگاه", "سفارش", "ارسال", "قیمت", "پشتیبانی", "کالا"},
		notTerms: []string{"نمی", "خواهم", "می", "کنم"}, joinWords: []string{"نمی\u200cخواهم", "می\u200cکنم"}},
	{tenant: "ro", planted: []string{"așteptare", "aşteptare"}, function: []string{"și", "şi", "care", "este", "nu", "la", "de", "un"},
		fillers: []string{"magazin", "comandă", "livrare", "preț", "aplicație", "personal"}},
	{tenant: "zh", planted: []string{"退款"}, function: []string{"的", "了", "是", "我", "也", "很"},
		fillers: []string{"配送", "客服", "价格", "质量", "订单", "门店"}},
}

// comment writes a comment of n words drawn from the language's function
// words and fillers, with the planted word when planted is not "".
func (l themeLang) comment(rng *rand.Rand, planted string) string {
	sep := " "
	if l.tenant == "zh" {
		sep = "，"
	}
	words := []string{}
	for range 3 {
		words = append(words, l.function[rng.IntN(len(l.function))])
	}
	pool := append(slices.Clone(l.fillers), l.joinWords...)
	for range 2 {
		words = append(words, pool[rng.IntN(len(pool))])
	}
	if planted != "" {
		words = append(words, planted)
	}
	rng.Shuffle(len(words), func(i, j int) { words[i], words[j] = words[j], words[i] })
	out := words[0]
	for _, w := range words[1:] {
		out += sep + w
	}
	return out
}

// TestThemesInFourLanguages: for a tenant per language, the themes API
// names the word store s1's detractors plant first (counted once whatever
// its spelling), with no function word and no piece of a ZWNJ-joined
// word in its answer; the answer equals, field by field, a reference
// computed here from the comments sent (the test's own counts and
// log-odds). An erasure takes the customer's comments out of the themes
// exactly; a window the theme buckets do not hold is refused.
func TestThemesInFourLanguages(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 30, 0, time.UTC)
	clk := newClock(now)
	_, broker := testenv.Kafka(t, 4, allTopics...)
	_, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}, clk)

	rng := rand.New(rand.NewPCG(35, 35))
	var msgs []msg
	sent := map[string][]*events.Event{}
	for _, l := range themeLangs {
		for i := range 160 {
			store, score, planted := "s2", 9, ""
			switch {
			case i < 40: // store s1's detractors, about the planted word
				store, score, planted = "s1", rng.IntN(7), l.planted[i%len(l.planted)]
			case i < 70: // store s2's detractors
				score = rng.IntN(7)
			case i < 100: // store s1's promoters and passives
				store, score = "s1", 7+rng.IntN(4)
			default:
				score = 7 + rng.IntN(4)
			}
			ev := events.Event{ID: fmt.Sprintf("%s-%d", l.tenant, i), Type: events.TypeSurveyResponse, Tenant: l.tenant,
				CustomerID: fmt.Sprintf("c%d", i%20), OccurredAt: now.Add(-time.Duration(rng.Int64N(int64(72 * time.Hour)))).Truncate(time.Millisecond),
				Dims:   map[string]string{"store": store},
				Survey: &events.Survey{Metric: events.MetricNPS, Score: score, Comment: l.comment(rng, planted)}}
			msgs = append(msgs, eventMsg(ev))
			sent[l.tenant] = append(sent[l.tenant], &ev)
		}
	}
	produce(t, broker, msgs)
	waitApplied(t, in.base)

	for _, l := range themeLangs {
		t.Run(l.tenant, func(t *testing.T) {
			got := themesOf(t, in.base, l.tenant, "store=s1", "7d")
			require.Equal(t, refThemes(l.tenant, "store=s1", "7d", sent[l.tenant], now), got)
			require.NotEmpty(t, got.Terms)
			require.Equal(t, l.planted[0], got.Terms[0].Term, "the planted word ranks first")
			require.EqualValues(t, 40, got.Terms[0].Count, "every spelling counts as one word")
			for _, term := range got.Terms {
				require.NotContains(t, l.function, term.Term, "a function word")
				require.NotContains(t, l.notTerms, term.Term, "a piece of a joined word")
				require.NotContains(t, l.planted[1:], term.Term, "another spelling of the planted word")
			}
			require.Equal(t, refThemes(l.tenant, "all", "24h", sent[l.tenant], now),
				themesOf(t, in.base, l.tenant, "all", "24h"), "a window of hour buckets")
		})
	}

	// Erasing customer c0 (detractor comments at s1, about the planted
	// word) takes their comments out of the themes.
	var rec map[string]any
	require.Equal(t, http.StatusOK, requestJSON(t, http.MethodDelete, in.base+"/v1/tenants/en/customers/c0", "", &rec))
	kept := slices.DeleteFunc(slices.Clone(sent["en"]), func(ev *events.Event) bool { return ev.CustomerID == "c0" })
	require.Less(t, len(kept), len(sent["en"]))
	got := themesOf(t, in.base, "en", "store=s1", "7d")
	require.Equal(t, refThemes("en", "store=s1", "7d", kept, now), got)
	require.Less(t, got.Terms[0].Count, int64(40))

	require.Contains(t, getText(t, in.base+"/v1/tenants/en/themes?window=90d"), `"window: theme terms are kept 31d, less than 90d"`)
	require.Contains(t, getText(t, in.base+"/v1/tenants/en/themes?period=month:2026-11"), `"period: theme terms are kept by UTC hour and day`)
}

func themesOf(t *testing.T, base, tenant, scope, win string) api.ThemeList {
	t.Helper()
	var got api.ThemeList
	require.Equal(t, http.StatusOK, getJSON(t, base+"/v1/tenants/"+tenant+"/themes?scope="+scope+"&window="+win, &got))
	return got
}

// refThemes computes the themes answer from the events sent: the scope's
// detractor comments in the window against every other comment of the
// tenant in it (an event is in when its UTC hour, or day for windows
// over 48h, starts after now − window).
func refThemes(tenant, scope, win string, sent []*events.Event, now time.Time) api.ThemeList {
	length, bucket := map[string]time.Duration{"24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}[win], time.Hour
	if length > 48*time.Hour {
		bucket = 24 * time.Hour
	}
	terms, comments := refTopTerms(sent, scope, func(at time.Time) bool { return at.Truncate(bucket).After(now.Add(-length)) })
	return api.ThemeList{Tenant: tenant, Scope: scope, Window: win, Group: "detractors", Comments: comments, Terms: terms}
}

// refTopTerms ranks the terms of the scope's detractor comments that are
// in against every other NPS comment in, by the weighted log-odds with an
// informative Dirichlet prior α_w = 500·f_w, f_w the term's share of all
// the comments in; terms with z > 1.96 and at least 3 comments, highest z
// first, at most 10; and counts the scope's detractor comments with terms.
func refTopTerms(sent []*events.Event, scope string, in func(at time.Time) bool) ([]alerts.Term, int64) {
	det, rest, all := map[string]int64{}, map[string]int64{}, map[string]int64{}
	var comments int64
	for _, ev := range sent {
		if ev.Survey == nil || ev.Survey.Metric != events.MetricNPS || !in(ev.OccurredAt) {
			continue
		}
		terms := alerts.Terms(ev.Survey.Comment)
		inScope := scope == "all" || "store="+ev.Dims["store"] == scope
		mine := ev.Survey.Score <= 6 && inScope
		if mine && len(terms) > 0 {
			comments++
		}
		for _, term := range terms {
			all[term]++
			if mine {
				det[term]++
			} else {
				rest[term]++
			}
		}
	}
	sum := func(m map[string]int64) (s float64) {
		for _, v := range m {
			s += float64(v)
		}
		return s
	}
	n, m, total := sum(det), sum(rest), sum(all)
	out := []alerts.Term{}
	for term, y := range det {
		a := 500 * float64(all[term]) / total
		yf, b := float64(y), float64(rest[term])
		z := (math.Log((yf+a)/(n+500-yf-a)) - math.Log((b+a)/(m+500-b-a))) / math.Sqrt(1/(yf+a)+1/(b+a))
		if y >= 3 && z > 1.96 {
			out = append(out, alerts.Term{Term: term, Z: math.Round(z*100) / 100, Count: y})
		}
	}
	slices.SortFunc(out, func(x, y alerts.Term) int {
		if c := cmp.Compare(y.Z, x.Z); c != 0 {
			return c
		}
		return cmp.Compare(x.Term, y.Term)
	})
	return out[:min(10, len(out))], comments
}
