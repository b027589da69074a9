// Package winstate keeps a scope's rolling-window counters in Go: per
// window, the buckets it holds and their running total, a bucket's counts
// taken out of the total as it leaves the window. It is the in-memory form
// of what the Redis counters hash holds today (docs/redis.md), for a
// writer that owns a tenant's state: adding, retracting and advancing cost
// one bucket each, and reading a window's figures costs nothing more.
// Counters are whole numbers (amounts in 1/stats.AmountScale), so the
// running totals stay exact.
package winstate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// Scope is the window state of one scope.
type Scope struct {
	ws    []window.Window
	rings []ring
}

// ring is one window's buckets and their total.
type ring struct {
	buckets map[int64]*stats.Counters
	total   stats.Counters
}

// New returns the empty state of a scope for windows ws.
func New(ws []window.Window) *Scope {
	s := &Scope{ws: ws, rings: make([]ring, len(ws))}
	for i := range s.rings {
		s.rings[i].buckets = map[int64]*stats.Counters{}
	}
	return s
}

// Add adds c, scaled by sign (+1 to count, −1 to retract), at instant at,
// to every window that holds at's bucket at now. A window that does not
// hold it is left alone: what left a window is out of its total already,
// and a retraction of it must not take it out again.
func (s *Scope) Add(at time.Time, c *stats.Counters, sign float64, now time.Time) {
	for wi, w := range s.ws {
		b := w.Index(at)
		if first, last := w.Span(now); b < first || b > last {
			continue
		}
		r := &s.rings[wi]
		bucket := r.buckets[b]
		if bucket == nil {
			bucket = &stats.Counters{}
			r.buckets[b] = bucket
		}
		bucket.Add(c, sign)
		r.total.Add(c, sign)
		if bucket.Zero() {
			delete(r.buckets, b)
		}
	}
}

// Advance takes out of each window the buckets that left it by now, and
// reports whether any total changed.
func (s *Scope) Advance(now time.Time) bool {
	changed := false
	for wi, w := range s.ws {
		first, _ := w.Span(now)
		r := &s.rings[wi]
		for b, c := range r.buckets {
			if b < first {
				r.total.Add(c, -1)
				delete(r.buckets, b)
				changed = true
			}
		}
	}
	return changed
}

// Total returns window wi's counters.
func (s *Scope) Total(wi int) stats.Counters { return s.rings[wi].total }

// NextLeave returns when the first bucket held leaves its window, zero
// when none is held.
func (s *Scope) NextLeave() time.Time {
	var next time.Time
	for wi, w := range s.ws {
		for b := range s.rings[wi].buckets {
			if at := w.Leaves(b); next.IsZero() || at.Before(next) {
				next = at
			}
		}
	}
	return next
}

// Layout names the stored form Encode writes: a change of it, or of
// stats.LayoutVersion, is a new value here.
const Layout = 1

// Encode writes the state: Layout, stats.LayoutVersion, then per window
// its name and its buckets in order, each as its number and its non-zero
// counters (stats.Counters.AppendBinary). The totals are not stored:
// Decode sums the buckets.
func (s *Scope) Encode() []byte {
	b := []byte{Layout, stats.LayoutVersion}
	b = binary.AppendUvarint(b, uint64(len(s.ws)))
	for wi, w := range s.ws {
		b = binary.AppendUvarint(b, uint64(len(w.Name)))
		b = append(b, w.Name...)
		r := &s.rings[wi]
		keys := make([]int64, 0, len(r.buckets))
		for k := range r.buckets {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = binary.AppendUvarint(b, uint64(len(keys)))
		for _, k := range keys {
			b = binary.AppendVarint(b, k)
			b = r.buckets[k].AppendBinary(b)
		}
	}
	return b
}

// Decode reads what Encode wrote for the same windows. A state kept with
// another layout or other windows is an error naming it (such a tenant is
// rebuilt, docs/operations.md).
func Decode(ws []window.Window, data []byte) (*Scope, error) {
	if len(data) < 2 {
		return nil, errors.New("window state: too short")
	}
	if data[0] != Layout || data[1] != stats.LayoutVersion {
		return nil, fmt.Errorf("window state: layout %d/%d, not %d/%d", data[0], data[1], Layout, stats.LayoutVersion)
	}
	rd := reader{b: data[2:]}
	if n := rd.uvarint(); rd.err == nil && n != uint64(len(ws)) {
		return nil, fmt.Errorf("window state: %d windows, not the %d configured", n, len(ws))
	}
	s := New(ws)
	for wi, w := range ws {
		if name := rd.bytes(int(rd.uvarint())); rd.err == nil && string(name) != w.Name {
			return nil, fmt.Errorf("window state: window %d is %q, not %q", wi, name, w.Name)
		}
		r := &s.rings[wi]
		for range rd.count() {
			k := rd.varint()
			c := &stats.Counters{}
			if rd.err == nil {
				rd.b, rd.err = c.ReadBinary(rd.b)
			}
			if rd.err != nil {
				break
			}
			r.buckets[k] = c
			r.total.Add(c, 1)
		}
	}
	if rd.err == nil && len(rd.b) > 0 {
		rd.err = fmt.Errorf("%d bytes left over", len(rd.b))
	}
	if rd.err != nil {
		return nil, fmt.Errorf("window state: %w", rd.err)
	}
	return s, nil
}

// reader reads varints and bytes, keeping the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a number of items, each at least a byte long.
func (r *reader) count() uint64 {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return n
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.fail()
		return make([]byte, max(n, 0))
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errors.New("truncated")
	}
	r.b = nil
}
