package stats

import "math"

// z95 is the normal quantile of every 95 % bound.
const z95 = 1.96

// NPS returns 100 × (promoters − detractors) / responses; n must be
// positive.
func NPS(promoters, detractors, n float64) float64 {
	return 100 * (promoters - detractors) / n
}

// NPSMoE95 returns the 95 % margin of error of an NPS:
// 1.96 × 100 × √(((P + D) − (P − D)²) / n), P and D as proportions; n must
// be positive.
func NPSMoE95(promoters, detractors, n float64) float64 {
	P, D := promoters/n, detractors/n
	return z95 * 100 * math.Sqrt(max(0, ((P+D)-(P-D)*(P-D))/n))
}

// Wilson returns the 95 % Wilson score interval of k successes in n, as
// proportions; (0, 1) when n is 0.
func Wilson(k, n int64) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	p, nf := float64(k)/float64(n), float64(n)
	den := 1 + z95*z95/nf
	center := (p + z95*z95/(2*nf)) / den
	half := z95 * math.Sqrt(p*(1-p)/nf+z95*z95/(4*nf*nf)) / den
	return max(0, center-half), min(1, center+half)
}

// Rankable are the stats a leaderboard ranks scopes by.
var Rankable = []string{"nps", "detractor_share", "csat", "csat_mean", "ces", "ces_easy_share"}

// Ranked returns a rankable stat of the counters, its 95 % bound on the
// side that matters for the order (lower when higher ranks first, upper
// otherwise) and the responses behind it; ok is false without responses or
// for a stat that is not rankable. Shares use the Wilson bound; NPS and
// means the normal bound with pseudo-answers, so that a few identical
// answers do not make a certain score.
func Ranked(stat string, c *Counters, desc bool) (value, bound, n float64, ok bool) {
	share := func(k, total Counter) (float64, float64, float64, bool) {
		if c[total] == 0 {
			return 0, 0, 0, false
		}
		lo, hi := Wilson(int64(c[k]), int64(c[total]))
		b := hi
		if desc {
			b = lo
		}
		return 100 * c[k] / c[total], 100 * b, c[total], true
	}
	// Means: the bound counts two pseudo-answers, the scale's lowest and
	// highest.
	mean := func(sum, sq, total Counter, lo, hi float64) (float64, float64, float64, bool) {
		n := c[total]
		if n == 0 {
			return 0, 0, 0, false
		}
		n2 := n + 2
		m2 := (c[sum] + lo + hi) / n2
		v2 := max(0, (c[sq]+lo*lo+hi*hi-n2*m2*m2)/(n2-1))
		half := z95 * math.Sqrt(v2/n2)
		if desc {
			return c[sum] / n, m2 - half, n, true
		}
		return c[sum] / n, m2 + half, n, true
	}
	switch stat {
	case "nps":
		// One pseudo-response of each kind (promoter, passive, detractor),
		// so four promoters out of four do not make a certain 100.
		n := c[NPSResponses]
		if n == 0 {
			return 0, 0, 0, false
		}
		v := NPS(c[NPSPromoters], c[NPSDetractors], n)
		p3, d3, n3 := c[NPSPromoters]+1, c[NPSDetractors]+1, n+3
		v3, moe := NPS(p3, d3, n3), NPSMoE95(p3, d3, n3)
		if desc {
			return v, v3 - moe, n, true
		}
		return v, v3 + moe, n, true
	case "detractor_share":
		return share(NPSDetractors, NPSResponses)
	case "csat":
		return share(CSATSatisfied, CSATResponses)
	case "ces_easy_share":
		return share(CESEasy, CESResponses)
	case "csat_mean":
		return mean(CSATSum, CSATSumSq, CSATResponses, 1, 5)
	case "ces":
		return mean(CESSum, CESSumSq, CESResponses, 1, 7)
	}
	return 0, 0, 0, false
}
