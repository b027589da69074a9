package stats

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSignificantWorkedExample checks the tests against numbers worked out
// by hand (docs/periods.md shows the working).
func TestSignificantWorkedExample(t *testing.T) {
	var a, b Counters
	// November: 200 NPS answers, 100 promoters and 40 detractors (NPS 30);
	// October: 150 answers, 60 and 45 (NPS 10). V = 10⁴(P+D−(P−D)²)/n gives
	// 30.5 and 46; z = 20/√76.5 = 2.287 > 1.96.
	a[NPSResponses], a[NPSPromoters], a[NPSDetractors] = 200, 100, 40
	b[NPSResponses], b[NPSPromoters], b[NPSDetractors] = 150, 60, 45
	// CSAT means: 50 ratings summing to 200 (squares 850) against 40
	// summing to 150 (squares 600): variances 1.0204 and 0.9615, z = 1.186.
	a[CSATResponses], a[CSATSum], a[CSATSumSq], a[CSATSatisfied] = 50, 200, 850, 40
	b[CSATResponses], b[CSATSum], b[CSATSumSq], b[CSATSatisfied] = 40, 150, 600, 32
	got := Significant(&a, &b)
	require.True(t, got["nps"])
	// Detractor share 20 % against 30 %: pooled 85/350, z = −2.159.
	require.True(t, got["detractor_share"])
	require.False(t, got["csat_mean"])
	require.False(t, got["csat"], "80 % against 80 %")
	require.NotContains(t, got, "ces", "no CES answers on either side")
	require.NotContains(t, got, "purchases", "counts have no test")

	z, ok := npsZ(&a, &b)
	require.True(t, ok)
	require.InDelta(t, 2.2866478, z, 1e-6)
	z, _ = proportionZ(40, 200, 45, 150)
	require.InDelta(t, -2.1590478, z, 1e-6)
	z, _ = meanZ(50, 200, 850, 40, 150, 600)
	require.InDelta(t, 1.1858250, z, 1e-6)

	// Small samples: NPS 40 from 20 answers against 24 from 25, z = 0.66.
	var c, d Counters
	c[NPSResponses], c[NPSPromoters], c[NPSDetractors] = 20, 12, 4
	d[NPSResponses], d[NPSPromoters], d[NPSDetractors] = 25, 12, 6
	require.False(t, Significant(&c, &d)["nps"])
}

// TestMargin: 40 detractors of 200 answers is a share of 20 ± 5.544
// (1.96 · 100 · √(0.2 · 0.8 / 200)); the NPS of 100 promoters and 40
// detractors of 200 is 30 ± 10.824 (1.96 · √30.5).
func TestMargin(t *testing.T) {
	var c Counters
	c[NPSResponses], c[NPSPromoters], c[NPSDetractors] = 200, 100, 40
	n, moe, ok := Margin("detractor_share", &c)
	require.True(t, ok)
	require.Equal(t, 200.0, n)
	require.InDelta(t, 5.5437, moe, 1e-4)
	_, moe, ok = Margin("nps", &c)
	require.True(t, ok)
	require.InDelta(t, 10.8245, moe, 1e-4)
	_, _, ok = Margin("purchases", &c)
	require.False(t, ok)
	_, _, ok = Margin("csat", &c)
	require.False(t, ok, "no CSAT answers")
}
