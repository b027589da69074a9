// Package periodstate keeps a scope's calendar-period counters in Go: the
// local hour, day and month buckets of internal/periodbuckets, added to as
// events count and dropped once no longer kept, and the sum of any span of
// them. It is the in-memory form of the Redis period hashes
// (docs/redis.md), for a writer that owns a tenant's state.
package periodstate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cxpulse/cxpulse/internal/periodbuckets"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// Scope is the period state of one scope.
type Scope struct {
	buckets map[periodbuckets.Bucket]*stats.Counters
	buf     []periodbuckets.Bucket
}

// New returns an empty period state.
func New() *Scope { return &Scope{buckets: map[periodbuckets.Bucket]*stats.Counters{}} }

// Add adds c, scaled by sign, at instant at to the buckets kept holds at
// at (none when its day is not kept: what is no longer kept is out of
// every period, and a retraction of it takes nothing out).
func (s *Scope) Add(kept *periodbuckets.Kept, at time.Time, c *stats.Counters, sign float64) {
	s.buf = kept.Of(at, s.buf[:0])
	for _, b := range s.buf {
		bucket := s.buckets[b]
		if bucket == nil {
			bucket = &stats.Counters{}
			s.buckets[b] = bucket
		}
		bucket.Add(c, sign)
		if bucket.Zero() {
			delete(s.buckets, b)
		}
	}
}

// Sum returns the counters of span: the sum of the buckets that make it
// up (periodbuckets.Span.Buckets).
func (s *Scope) Sum(sys period.System, span periodbuckets.Span) stats.Counters {
	var sum stats.Counters
	for _, b := range span.Buckets(sys) {
		if c := s.buckets[b]; c != nil {
			sum.Add(c, 1)
		}
	}
	return sum
}

// Forget drops the buckets kept no longer holds; it reports whether any
// went.
func (s *Scope) Forget(kept *periodbuckets.Kept) bool {
	gone := false
	for b := range s.buckets {
		if !kept.Holds(b) {
			delete(s.buckets, b)
			gone = true
		}
	}
	return gone
}

// Layout names the stored form Encode writes: a change of it, or of
// stats.LayoutVersion, is a new value here.
const Layout = 1

// Encode writes the state: Layout, stats.LayoutVersion, the number of
// buckets, then each bucket in order as its unit (a byte), its number
// (varint) and its counters (stats.Counters.AppendBinary).
func (s *Scope) Encode() []byte {
	keys := make([]periodbuckets.Bucket, 0, len(s.buckets))
	for b := range s.buckets {
		keys = append(keys, b)
	}
	slices.SortFunc(keys, func(a, b periodbuckets.Bucket) int {
		if a.Unit != b.Unit {
			return int(a.Unit) - int(b.Unit)
		}
		return int(a.Index - b.Index)
	})
	out := []byte{Layout, stats.LayoutVersion}
	out = binary.AppendUvarint(out, uint64(len(keys)))
	for _, b := range keys {
		out = append(out, byte(b.Unit))
		out = binary.AppendVarint(out, b.Index)
		out = s.buckets[b].AppendBinary(out)
	}
	return out
}

// Decode reads what Encode wrote; another layout or damaged bytes are an
// error naming it.
func Decode(data []byte) (*Scope, error) {
	if len(data) < 2 {
		return nil, errors.New("period state: too short")
	}
	if data[0] != Layout || data[1] != stats.LayoutVersion {
		return nil, fmt.Errorf("period state: layout %d/%d, not %d/%d", data[0], data[1], Layout, stats.LayoutVersion)
	}
	b := data[2:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errors.New("period state: truncated")
	}
	b = b[k:]
	s := New()
	for range n {
		if len(b) < 1 || periodbuckets.Unit(b[0]) > periodbuckets.Month {
			return nil, errors.New("period state: truncated or not a bucket unit")
		}
		unit := periodbuckets.Unit(b[0])
		idx, k := binary.Varint(b[1:])
		if k <= 0 {
			return nil, errors.New("period state: truncated")
		}
		b = b[1+k:]
		c := &stats.Counters{}
		var err error
		if b, err = c.ReadBinary(b); err != nil {
			return nil, fmt.Errorf("period state: %w", err)
		}
		s.buckets[periodbuckets.Bucket{Unit: unit, Index: idx}] = c
	}
	if len(b) > 0 {
		return nil, fmt.Errorf("period state: %d bytes left over", len(b))
	}
	return s, nil
}
