// Package stats is cxpulse's metric catalogue: the raw counters kept per
// bucket, what one event contributes to them, and every public stat of
// docs/metrics.md with its formula, including the confidence bounds that the
// leaderboard and the alerts rank and test by. Storing and summing counters
// is left to the store; deciding which events count is left to the
// pipeline.
package stats

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Counter names one raw counter kept per bucket. Ratios are derived from
// them last, in the view.
type Counter int

// LayoutVersion names the order of the raw counters below, as stored
// buckets hold them (by position, trailing zeros dropped). A new counter
// goes at the end: stored buckets then read it as 0. Any other change
// (an insertion, a removal, a new order) needs a new LayoutVersion, and
// tenants kept with another layout are rebuilt (docs/operations.md);
// TestCounterLayoutIsPinned fails until that is done.
const LayoutVersion = 1

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
	// that history (see package customers).
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

// AppendBinary appends c as its non-zero counters: their number, then
// each counter's position (uvarint) and value (8 bytes, IEEE 754, big
// endian). The positions are those of LayoutVersion.
func (c *Counters) AppendBinary(b []byte) []byte {
	n := 0
	for _, v := range c {
		if v != 0 {
			n++
		}
	}
	b = binary.AppendUvarint(b, uint64(n))
	for i, v := range c {
		if v != 0 {
			b = binary.AppendUvarint(b, uint64(i))
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(v))
		}
	}
	return b
}

// ReadBinary reads what AppendBinary wrote into c and returns the bytes
// after it.
func (c *Counters) ReadBinary(b []byte) ([]byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errors.New("counters: truncated")
	}
	b = b[k:]
	for range n {
		i, k := binary.Uvarint(b)
		if k <= 0 || len(b) < k+8 {
			return nil, errors.New("counters: truncated")
		}
		if i >= uint64(len(c)) {
			return nil, fmt.Errorf("counters: position %d is outside layout %d", i, LayoutVersion)
		}
		c[i] = math.Float64frombits(binary.BigEndian.Uint64(b[k:]))
		b = b[k+8:]
	}
	return b, nil
}
