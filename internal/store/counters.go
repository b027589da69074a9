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
	NumCounters
)

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

// pack writes the counters as the scripts read them: comma-separated
// decimals, trailing zeros dropped.
func (c *Counters) pack() string {
	n := len(c)
	for n > 0 && c[n-1] == 0 {
		n--
	}
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatFloat(c[i], 'g', -1, 64))
	}
	if n == 0 {
		return "0"
	}
	return b.String()
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
