package alerts

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// part is a group of answers: n answers an hour, d of them detractors, for
// 90 days, and in the last spikeHours hours sn and sd an hour instead.
type part struct{ n, d, sn, sd int64 }

const spikeHours = 6

// inputOf sums parts into a scope's input: 24 hourly buckets and windows
// 24h, 7d and 90d.
func inputOf(parts ...part) Input {
	var in Input
	in.Hours = make([]Counts, 24)
	for h := range 24 {
		for _, p := range parts {
			if h >= 24-spikeHours {
				in.Hours[h].N += p.sn
				in.Hours[h].D += p.sd
			} else {
				in.Hours[h].N += p.n
				in.Hours[h].D += p.d
			}
		}
	}
	var day Counts
	for _, c := range in.Hours {
		day.N += c.N
		day.D += c.D
	}
	var perDay Counts
	for _, p := range parts {
		perDay.N += 24 * p.n
		perDay.D += 24 * p.d
	}
	w := func(name string, days int64) WindowCounts {
		return WindowCounts{Name: name, Length: time.Duration(days) * 24 * time.Hour,
			Counts: Counts{N: day.N + (days-1)*perDay.N, D: day.D + (days-1)*perDay.D}}
	}
	in.Windows = []WindowCounts{w("24h", 1), w("7d", 7), w("90d", 90)}
	in.Age = 90 * 24 * time.Hour
	return in
}

// TestExplainedScopes: a burst at one store explains its region and the
// tenant (they alert on their own answers, not on the rest); two stores
// at once explain the region together; a region whose other answers spike
// too (at a store with no scope of its own) still alerts on its residual.
func TestExplainedScopes(t *testing.T) {
	normal, burst := part{n: 5, d: 1, sn: 5, sd: 1}, part{n: 5, d: 1, sn: 10, sd: 10}
	never := func(string) bool { return false }
	scopeOf := func(name string, parts ...part) ScopeInput {
		in := inputOf(parts...)
		return ScopeInput{Scope: name, In: in, Size: in.Windows[len(in.Windows)-1].N}
	}
	withTenant := func(all ScopeInput, scopes ...ScopeInput) []ScopeInput {
		out := append([]ScopeInput{all}, scopes...)
		for i := range out {
			out[i].In.Tenant = all.In.Windows
		}
		return out
	}
	byScope := func(vs []Verdict) map[string]Verdict {
		out := map[string]Verdict{}
		for _, v := range vs {
			out[v.Scope] = v
		}
		return out
	}
	others := []part{normal, normal, normal, normal, normal, normal, normal, normal} // two other regions

	// One store: the region and the tenant are explained by it.
	got := byScope(DefaultParams.EvaluateScopes(withTenant(
		scopeOf("all", append([]part{burst, normal, normal, normal}, others...)...),
		scopeOf("store=s03", burst), scopeOf("store=s06", normal), scopeOf("region=eu", burst, normal, normal, normal),
		scopeOf("region=us", normal, normal, normal, normal)), never))
	require.Equal(t, Critical, got["store=s03"].Decision.Severity)
	require.Empty(t, got["store=s03"].Excluding, "nothing smaller alerts")
	for _, sc := range []string{"region=eu", "all"} {
		require.Equal(t, None, got[sc].Decision.Severity, sc)
		require.Equal(t, []string{"store=s03"}, got[sc].ExplainedBy, "%s alerts on its own answers, explained by the store", sc)
	}
	require.Empty(t, got["store=s06"].Excluding, "another store shares no answer with s03")
	require.Empty(t, got["region=us"].Excluding, "a scope that would not alert is not looked at again")
	require.Nil(t, got["region=us"].ExplainedBy)

	// Two stores at once: both alert, the region is explained by both.
	got = byScope(DefaultParams.EvaluateScopes(withTenant(
		scopeOf("all", append([]part{burst, burst, normal, normal}, others...)...),
		scopeOf("store=s03", burst), scopeOf("store=s06", burst), scopeOf("region=eu", burst, burst, normal, normal)), never))
	require.NotEqual(t, None, got["store=s03"].Decision.Severity)
	require.NotEqual(t, None, got["store=s06"].Decision.Severity)
	require.Equal(t, None, got["region=eu"].Decision.Severity)
	require.Equal(t, []string{"store=s03", "store=s06"}, got["region=eu"].ExplainedBy)

	// The region's other answers spike too, at a store without a scope of
	// its own: the region alerts on that residual.
	got = byScope(DefaultParams.EvaluateScopes(withTenant(
		scopeOf("all", append([]part{burst, burst, normal, normal}, others...)...),
		scopeOf("store=s03", burst), scopeOf("region=eu", burst, burst, normal, normal)), never))
	require.NotEqual(t, None, got["store=s03"].Decision.Severity)
	require.NotEqual(t, None, got["region=eu"].Decision.Severity, "the residual spikes")
	require.Equal(t, []string{"store=s03"}, got["region=eu"].Excluding)
	require.Nil(t, got["region=eu"].ExplainedBy)

	// A store whose alert still fires (keep_firing_for) explains too.
	got = byScope(DefaultParams.EvaluateScopes(withTenant(
		scopeOf("all", append([]part{burst, normal, normal, normal}, others...)...),
		scopeOf("store=s03", normal), scopeOf("region=eu", burst, normal, normal, normal)),
		func(sc string) bool { return sc == "store=s03" }))
	require.Equal(t, None, got["store=s03"].Decision.Severity)
	require.Equal(t, []string{"store=s03"}, got["region=eu"].Excluding)
}

func TestOverlap(t *testing.T) {
	for _, c := range []struct {
		c, p string
		want bool
	}{
		{"store=s03", "all", true},
		{"store=s03", "region=eu", true}, // may share answers: subtracted whole
		{"store=s03", "store=s04", false},
		{"store=s03", "store=s03", false},
		{"channel=web,store=s03", "channel=web", true}, // inside by name
		{"channel=app,store=s03", "channel=web", false},
		{"channel=web", "channel=web,store=s03", false}, // the larger one is never taken out of a part of it
		{"all", "store=s03", false},
	} {
		require.Equal(t, c.want, Overlap(c.c, c.p), "%s from %s", c.c, c.p)
	}
}
