package stats

import (
	"math"
	"slices"
	"strconv"
)

// Stat is one public stat of a window. Defined is false for a ratio or
// mean whose denominator is 0 (absent from the view and the API); Count
// marks the counts, which are whole numbers.
type Stat struct {
	Name    string
	Value   float64
	Defined bool
	Count   bool
}

// Text writes the stat as the view holds it (docs/redis.md): counts as
// base-10 integers, other values as the shortest decimal that reads back
// as the same float64, "" when undefined (its field deleted).
func (s *Stat) Text() string {
	switch {
	case !s.Defined:
		return ""
	case s.Count:
		return strconv.FormatFloat(s.Value, 'f', -1, 64)
	}
	return strconv.FormatFloat(s.Value, 'g', -1, 64)
}

// AppendWindow appends the public stats of one window (docs/metrics.md),
// computed from its totals, the customers active now and those retained
// through the window: always the same stats in the same order.
func AppendWindow(out []Stat, t *Counters, active, retained int64) []Stat {
	// A value that is not finite (only corrupt counters give one) is
	// undefined: it is never stored or published.
	count := func(name string, v float64) {
		out = append(out, Stat{Name: name, Value: v, Defined: finite(v), Count: true})
	}
	value := func(name string, defined bool, v float64) {
		out = append(out, Stat{Name: name, Value: v, Defined: defined && finite(v)})
	}
	ratio := func(name string, num, den, scale float64) {
		if den > 0 {
			value(name, true, scale*num/den)
		} else {
			value(name, false, 0)
		}
	}
	n, p, d := t[NPSResponses], t[NPSPromoters], t[NPSDetractors]
	count("nps_responses", n)
	count("nps_promoters", p)
	count("nps_passives", n-p-d)
	count("nps_detractors", d)
	if n > 0 {
		value("nps", true, NPS(p, d, n))
		value("nps_moe95", true, NPSMoE95(p, d, n))
	} else {
		value("nps", false, 0)
		value("nps_moe95", false, 0)
	}
	ratio("detractor_share", d, n, 100)
	count("csat_responses", t[CSATResponses])
	count("csat_satisfied", t[CSATSatisfied])
	ratio("csat", t[CSATSatisfied], t[CSATResponses], 100)
	ratio("csat_mean", t[CSATSum], t[CSATResponses], 1)
	count("ces_responses", t[CESResponses])
	count("ces_easy", t[CESEasy])
	ratio("ces", t[CESSum], t[CESResponses], 1)
	ratio("ces_easy_share", t[CESEasy], t[CESResponses], 100)
	count("tickets_opened", t[TicketsOpened])
	count("tickets_resolved", t[TicketsResolved])
	count("tickets_reopened", t[TicketsReopened])
	ratio("ticket_first_response_avg_s", t[FirstResponseMs], t[FirstResponseN], 0.001)
	ratio("ticket_handle_avg_s", t[HandleMs], t[HandleN], 0.001)
	ratio("ticket_reopen_rate", t[TicketsReopened], t[TicketsResolved], 100)

	purchases, gross := t[Purchases], t[GrossAmount]/AmountScale
	count("purchases", purchases)
	count("refunds", t[Refunds])
	count("revenue", (t[GrossAmount]-t[RefundedAmount])/AmountScale)
	ratio("atv", gross, purchases, 1)
	buyers, fresh, referred := t[Purchasers], t[CustomersNew], t[ReferredNew]
	count("customers_purchasing", buyers)
	count("customers_new", fresh)
	ratio("repeat_purchase_rate", buyers-fresh, buyers, 100)
	count("referrals_sent", t[ReferralsSent])
	count("referral_conversions", referred)
	ratio("referral_conversion_rate", referred, t[ReferralsSent], 100)
	ratio("referral_new_customer_share", referred, fresh, 100)
	act := float64(active)
	atStart := act - t[Activations] + t[Losses]
	lost := atStart - float64(retained)
	count("customers_active", act)
	count("customers_activated", t[Activations])
	count("losses", t[Losses])
	count("customers_at_start", atStart)
	count("customers_retained", float64(retained))
	count("customers_lost", lost)
	ratio("churn_rate", lost, atStart, 100)
	ratio("retention_rate", float64(retained), atStart, 100)
	if purchases > 0 && buyers > 0 && lost > 0 {
		value("clv", true, gross/purchases*(purchases/buyers)*(atStart/lost))
	} else {
		value("clv", false, 0)
	}
	return out
}

func finite(v float64) bool { return !math.IsInf(v, 0) && !math.IsNaN(v) }

// Names lists every public stat of a window, in AppendWindow order.
func Names() []string {
	stats := AppendWindow(nil, &Counters{}, 0, 0)
	out := make([]string, len(stats))
	for i, s := range stats {
		out[i] = s.Name
	}
	return out
}

// WholeWindow are the stats that only mean something for a whole window:
// those that depend on the customers active now, and the distinct
// purchasers (a customer counts in the bucket of their latest purchase).
var WholeWindow = []string{"customers_active", "customers_at_start", "customers_retained", "customers_lost",
	"churn_rate", "retention_rate", "clv", "customers_purchasing", "repeat_purchase_rate"}

// HasSeries reports whether stat has a value per bucket: every public stat
// but the WholeWindow ones.
func HasSeries(stat string) bool {
	return slices.Contains(Names(), stat) && !slices.Contains(WholeWindow, stat)
}

// Bucket returns the stats that the counters of one bucket decide on their
// own (every stat but the WholeWindow ones), leaving out the undefined.
func Bucket(c *Counters) map[string]float64 {
	stats := AppendWindow(nil, c, 0, 0)
	out := make(map[string]float64, len(stats))
	for _, st := range stats {
		if st.Defined && !slices.Contains(WholeWindow, st.Name) {
			out[st.Name] = st.Value
		}
	}
	return out
}

// NotInPeriods are the stats a calendar period does not carry: those of
// WholeWindow and the activity-spell counts, which follow customer state
// only as far back as it is kept (docs/periods.md).
var NotInPeriods = append(slices.Clone(WholeWindow), "customers_activated", "losses")

// AppendPeriod appends the public stats of a calendar period, computed from
// its summed counters: AppendWindow's stats but NotInPeriods, in the same
// order.
func AppendPeriod(out []Stat, t *Counters) []Stat {
	start := len(out)
	out = AppendWindow(out, t, 0, 0)
	kept := out[:start]
	for _, st := range out[start:] {
		if !slices.Contains(NotInPeriods, st.Name) {
			kept = append(kept, st)
		}
	}
	return kept
}

// DefinedPeriod returns the defined stats of a calendar period by name.
func DefinedPeriod(t *Counters) map[string]float64 {
	out := map[string]float64{}
	for _, st := range AppendPeriod(nil, t) {
		if st.Defined {
			out[st.Name] = st.Value
		}
	}
	return out
}

// PeriodNames lists the stats of a calendar period, in AppendPeriod order.
func PeriodNames() []string {
	stats := AppendPeriod(nil, &Counters{})
	out := make([]string, len(stats))
	for i, s := range stats {
		out[i] = s.Name
	}
	return out
}

// InPeriods reports whether counter c is kept in calendar-period buckets:
// every counter but those of the whole-window and activity-spell stats.
func InPeriods(c Counter) bool {
	return c != Purchasers && c != Activations && c != Losses
}
