package store

import (
	"encoding/binary"
	"math"
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

// msgpack appends the counters as the scripts keep them: a MessagePack
// array of numbers, trailing zeros dropped. Whole numbers are written as
// integers, others as float64, the two forms Lua's cmsgpack reads back
// exactly.
func (c *Counters) msgpack(b []byte) []byte {
	n := len(c)
	for n > 0 && c[n-1] == 0 {
		n--
	}
	b = append(b, 0x90|byte(n)) // fixarray: n ≤ 15 fits, else array 16
	if n > 15 {
		b[len(b)-1] = 0xdc
		b = append(b, byte(n>>8), byte(n))
	}
	for _, v := range c[:n] {
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			b = append(b, 0xd3)
			b = binary.BigEndian.AppendUint64(b, uint64(int64(v)))
			continue
		}
		b = append(b, 0xcb)
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

// sparse writes the non-zero counters as index:value pairs.
func (c *Counters) sparse() string {
	var b strings.Builder
	for i, v := range c {
		if v == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(i))
		b.WriteByte(':')
		b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	}
	return b.String()
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
