package store

import (
	"strconv"
	"strings"
)

// Counter names one raw counter kept per bucket. Ratios are derived from
// them last, in the view.
type Counter int

// The raw counters, in the order the scripts keep them.
const (
	NPSResponses Counter = iota
	NPSPromoters
	NPSDetractors
	CSATResponses
	CSATSatisfied
	CSATSum
	CSATSumSq
	CESResponses
	CESEasy
	CESSum
	CESSumSq
	TicketsOpened
	TicketsResolved
	TicketsReopened
	FirstResponseN
	FirstResponseMs // sum, in milliseconds
	FirstResponseSq // sum of squares, in seconds²
	HandleN
	HandleMs
	HandleSq
	Purchases      // purchase.completed events
	Refunds        // purchase.refunded events
	GrossAmount    // completed amounts, in 1/AmountScale of the currency
	RefundedAmount // refunded amounts, in 1/AmountScale of the currency
	ReferralsSent  // referral.sent events
	// The counters below follow from each customer's history rather than
	// from one event: they move when a late or revised purchase changes
	// that history (see the aggregator's customer state).
	Purchasers   // 1 per customer and scope, in the bucket of their latest purchase there
	CustomersNew // first purchases
	ReferredNew  // first purchases carrying a referral code
	Activations  // activity spells begun
	Losses       // activity spells ended (cancellation or inactivity)
	NumCounters
)

// AmountScale is the number of units an amount of 1 is counted in: amounts
// are kept as whole numbers of 1/10000 of the currency, so sums stay exact.
const AmountScale = 10000

// Counters is one set of raw counters.
type Counters [NumCounters]float64

// Add adds o, scaled by sign, to c.
func (c *Counters) Add(o *Counters, sign float64) {
	for i := range c {
		c[i] += sign * o[i]
	}
}

// Zero reports whether every counter is 0.
func (c *Counters) Zero() bool {
	for _, v := range c {
		if v != 0 {
			return false
		}
	}
	return true
}

// appendSparse appends the number of non-zero counters, then each one's
// position (from 1, as Lua counts) and value.
func (c *Counters) appendSparse(b []byte) ([]byte, int) {
	n := 0
	for _, v := range c {
		if v != 0 {
			n++
		}
	}
	b = appendInt(b, int64(n))
	for i, v := range c {
		if v != 0 {
			b = appendNumber(appendInt(b, int64(i+1)), v)
		}
	}
	return b, 1 + 2*n
}

// appendText appends the non-zero counters as index:value pairs, comma
// separated (parseSparse reads them).
func (c *Counters) appendText(b []byte) []byte {
	first := true
	for i, v := range c {
		if v == 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, ':')
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return b
}

func parseSparse(s string) (Counters, bool) {
	var c Counters
	if s == "" {
		return c, true
	}
	for part := range strings.SplitSeq(s, ",") {
		i, v, ok := strings.Cut(part, ":")
		idx, err1 := strconv.Atoi(i)
		f, err2 := strconv.ParseFloat(v, 64)
		if !ok || err1 != nil || err2 != nil || idx < 0 || idx >= int(NumCounters) {
			return c, false
		}
		c[idx] = f
	}
	return c, true
}
