package stats

import "math"

// Z95 is the two-sided 95 % critical value of the standard normal.
const Z95 = 1.959963984540054

// Significant tests, for every stat of a period that has a two-sample
// test, whether the counters a and b of two periods differ at 95 %:
//
//   - nps: z = (NPS_a − NPS_b) / √(V_a + V_b), with V = 100² · (P + D −
//     (P − D)²) / n the variance of an NPS estimate (P and D the promoter
//     and detractor shares);
//   - shares (detractor_share, csat, ces_easy_share,
//     referral_new_customer_share): the pooled two-proportion z-test;
//   - means with their sums of squares (csat_mean, ces,
//     ticket_first_response_avg_s, ticket_handle_avg_s): Welch's z on the
//     sample variances, with at least two values on each side.
//
// A stat is absent when either side has too few values to test; counts,
// flow ratios and means without a sum of squares (atv) have no test.
func Significant(a, b *Counters) map[string]bool {
	out := map[string]bool{}
	if z, ok := npsZ(a, b); ok {
		out["nps"] = math.Abs(z) > Z95
	}
	for _, p := range []struct {
		name     string
		num, den Counter
	}{
		{"detractor_share", NPSDetractors, NPSResponses},
		{"csat", CSATSatisfied, CSATResponses},
		{"ces_easy_share", CESEasy, CESResponses},
		{"referral_new_customer_share", ReferredNew, CustomersNew},
	} {
		if z, ok := proportionZ(a[p.num], a[p.den], b[p.num], b[p.den]); ok {
			out[p.name] = math.Abs(z) > Z95
		}
	}
	for _, m := range []struct {
		name        string
		n, sum, sq  Counter
		sumPerValue float64 // what one unit of sum is in the stat's unit
	}{
		{"csat_mean", CSATResponses, CSATSum, CSATSumSq, 1},
		{"ces", CESResponses, CESSum, CESSumSq, 1},
		{"ticket_first_response_avg_s", FirstResponseN, FirstResponseMs, FirstResponseSq, 0.001},
		{"ticket_handle_avg_s", HandleN, HandleMs, HandleSq, 0.001},
	} {
		if z, ok := meanZ(a[m.n], a[m.sum]*m.sumPerValue, a[m.sq], b[m.n], b[m.sum]*m.sumPerValue, b[m.sq]); ok {
			out[m.name] = math.Abs(z) > Z95
		}
	}
	return out
}

// npsVariance is the variance of an NPS (in points) from n responses with
// p promoters and d detractors.
func npsVariance(p, d, n float64) float64 {
	P, D := p/n, d/n
	return 100 * 100 * (P + D - (P-D)*(P-D)) / n
}

func npsZ(a, b *Counters) (float64, bool) {
	na, nb := a[NPSResponses], b[NPSResponses]
	if na == 0 || nb == 0 {
		return 0, false
	}
	se := math.Sqrt(npsVariance(a[NPSPromoters], a[NPSDetractors], na) + npsVariance(b[NPSPromoters], b[NPSDetractors], nb))
	diff := NPS(a[NPSPromoters], a[NPSDetractors], na) - NPS(b[NPSPromoters], b[NPSDetractors], nb)
	return zOf(diff, se)
}

// proportionZ is the pooled two-proportion z of x1/n1 against x2/n2.
func proportionZ(x1, n1, x2, n2 float64) (float64, bool) {
	if n1 == 0 || n2 == 0 || x1 > n1 || x2 > n2 {
		return 0, false
	}
	p := (x1 + x2) / (n1 + n2)
	se := math.Sqrt(p * (1 - p) * (1/n1 + 1/n2))
	return zOf(x1/n1-x2/n2, se)
}

// meanZ is Welch's z of two means given their counts, sums and sums of
// squares.
func meanZ(n1, s1, q1, n2, s2, q2 float64) (float64, bool) {
	if n1 < 2 || n2 < 2 {
		return 0, false
	}
	v1 := math.Max(0, (q1-s1*s1/n1)/(n1-1))
	v2 := math.Max(0, (q2-s2*s2/n2)/(n2-1))
	return zOf(s1/n1-s2/n2, math.Sqrt(v1/n1+v2/n2))
}

// zOf is diff/se; with no spread at all, a difference is certain and none
// is not.
func zOf(diff, se float64) (float64, bool) {
	switch {
	case se > 0:
		return diff / se, true
	case diff == 0:
		return 0, true
	}
	return math.Inf(int(math.Copysign(1, diff))), true
}

// Margin returns, for a stat that estimates something from answers, the
// number of answers it rests on and its 95 % margin of error in the
// stat's unit: NPS with its own variance (NPSMoE95), shares with the normal
// approximation 1.96 · 100 · √(p(1 − p)/n), means with their sample
// variance. ok is false for the other stats, and when there are no
// answers.
func Margin(stat string, c *Counters) (n, moe float64, ok bool) {
	share := func(k, n float64) (float64, float64, bool) {
		if n == 0 {
			return 0, 0, false
		}
		p := k / n
		return n, z95 * 100 * math.Sqrt(p*(1-p)/n), true
	}
	mean := func(n, sum, sq float64) (float64, float64, bool) {
		if n < 2 {
			return n, 0, n > 0
		}
		v := math.Max(0, (sq-sum*sum/n)/(n-1))
		return n, z95 * math.Sqrt(v/n), true
	}
	switch stat {
	case "nps":
		if n := c[NPSResponses]; n > 0 {
			return n, NPSMoE95(c[NPSPromoters], c[NPSDetractors], n), true
		}
		return 0, 0, false
	case "detractor_share":
		return share(c[NPSDetractors], c[NPSResponses])
	case "csat":
		return share(c[CSATSatisfied], c[CSATResponses])
	case "ces_easy_share":
		return share(c[CESEasy], c[CESResponses])
	case "csat_mean":
		return mean(c[CSATResponses], c[CSATSum], c[CSATSumSq])
	case "ces":
		return mean(c[CESResponses], c[CESSum], c[CESSumSq])
	}
	return 0, 0, false
}
