package plan

import (
	"strconv"
	"time"

	"github.com/cxpulse/cxpulse/internal/periodbuckets"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// The sums a plan adds to buckets: of the rolling windows, of the
// calendar periods, and of the theme terms.

type deltaKey struct {
	scope  int32 // index into planner.scopes
	window int32
	bucket int64
}

type planner struct {
	windows []window.Window
	// first and last are each window's span at now.
	first, last []int64
	// deltas indexes the sums, kept in chunks in order of first use (one
	// allocation per chunk, not per key, and none moved when more come).
	deltas map[deltaKey]int32
	order  []deltaKey
	chunks [][]stats.Counters
	// recent remembers, per scope and window, the bucket last summed and
	// its index: most events of a slice fall in the same bucket of the
	// longer windows, which saves the map lookup.
	recent [][]recentSum
	index  map[string]int32 // scope name → index
	scopes []string
	// periods holds the sums of the calendar-period buckets, in order of
	// first use; kept says which buckets there are (nil: none).
	periods map[uint64]int32 // periodKey.packed() → index
	porder  []periodKey
	psums   []stats.Counters
	kept    *periodbuckets.Kept
	pbuf    []periodbuckets.Bucket
}

type periodKey struct {
	scope  int32
	bucket periodbuckets.Bucket
}

// packed is the key as one integer (a map of them hashes far faster than
// one of padded structs): scope, unit, and the bucket number in the low 42
// bits (hours since 1970 need 20).
func (k periodKey) packed() uint64 {
	return uint64(k.scope)<<44 | uint64(k.bucket.Unit)<<42 | uint64(k.bucket.Index)&(1<<42-1)
}

// addPeriods adds c times sign to the period buckets of at in the scopes
// idx, for the counters periods keep (nz lists c's non-zero ones).
func (p *planner) addPeriods(idx []int32, at time.Time, c *stats.Counters, nz []int8, sign float64) {
	if p.kept == nil {
		return
	}
	p.pbuf = p.kept.Of(at, p.pbuf[:0])
	for _, si := range idx {
		for _, b := range p.pbuf {
			k := periodKey{si, b}
			j, ok := p.periods[k.packed()]
			if !ok {
				j = int32(len(p.porder))
				p.periods[k.packed()] = j
				p.porder = append(p.porder, k)
				p.psums = append(p.psums, stats.Counters{})
			}
			d := &p.psums[j]
			for _, ci := range nz {
				if stats.InPeriods(stats.Counter(ci)) {
					d[ci] += sign * c[ci]
				}
			}
		}
	}
}

type recentSum struct {
	bucket int64
	sum    int32 // index + 1; 0: none
}

const chunkSums = 256

func (p *planner) scope(name string) int32 {
	i, ok := p.index[name]
	if !ok {
		i = int32(len(p.scopes))
		p.index[name] = i
		p.scopes = append(p.scopes, name)
		p.recent = append(p.recent, make([]recentSum, len(p.windows)))
	}
	return i
}

// at returns the counters summed at index i.
func (p *planner) at(i int32) *stats.Counters {
	return &p.chunks[i/chunkSums][i%chunkSums]
}

// sum returns the counters of key k, adding them when missing.
func (p *planner) sum(k deltaKey) *stats.Counters {
	r := &p.recent[k.scope][k.window]
	if r.sum != 0 && r.bucket == k.bucket {
		return p.at(r.sum - 1)
	}
	i, ok := p.deltas[k]
	if !ok {
		i = int32(len(p.order))
		p.deltas[k] = i
		p.order = append(p.order, k)
		if int(i)%chunkSums == 0 {
			p.chunks = append(p.chunks, make([]stats.Counters, chunkSums))
		}
	}
	*r = recentSum{bucket: k.bucket, sum: i + 1}
	return p.at(i)
}

func (p *planner) add(scopes []string, at time.Time, c *stats.Counters, sign float64) {
	var buf [16]int32
	idx := buf[:0]
	for _, sc := range scopes {
		idx = append(idx, p.scope(sc))
	}
	// An event moves a few of the counters: visit only those.
	var nzBuf [stats.NumCounters]int8
	nz := nzBuf[:0]
	for i, v := range c {
		if v != 0 {
			nz = append(nz, int8(i))
		}
	}
	for wi, w := range p.windows {
		b := w.Index(at)
		if b < p.first[wi] || b > p.last[wi] {
			continue
		}
		for _, si := range idx {
			d := p.sum(deltaKey{si, int32(wi), b})
			for _, i := range nz {
				d[i] += sign * c[i]
			}
		}
	}
	p.addPeriods(idx, at, c, nz, sign)
}

// addCount adds n to one derived counter of the buckets of at in one
// scope. The calendar periods keep only what a customer's first purchase
// derives (stats.InPeriods), which forgetting never moves (the earliest
// purchase is kept), so they take it at any instant.
func (p *planner) addCount(scope string, at time.Time, k stats.Counter, n float64) {
	si := p.scope(scope)
	for wi, w := range p.windows {
		b := w.Index(at)
		if b < p.first[wi] || b > p.last[wi] {
			continue
		}
		p.sum(deltaKey{si, int32(wi), b})[k] += n
	}
	var c stats.Counters
	c[k] = n
	idx, nz := [1]int32{si}, [1]int8{int8(k)}
	p.addPeriods(idx[:], at, &c, nz[:], 1)
}

type termKey struct {
	scope, bucket, term string
}

// themes collects the term changes of a slice: the terms of NPS comments
// are counted per hour (for the detection horizon) and per day (for the
// baseline and the themes of longer windows), in buckets the sweeper has
// not yet deleted; a detractor's in each of the answer's scopes, anyone
// else's tenant-wide under keys.OthersGroup; each bucket counts its
// comments too (keys.CommentsField).
type themes struct {
	now    int64
	deltas map[termKey]int64
}

func (t *themes) add(scopes []string, at time.Time, terms []string, detractor bool, sign int64) {
	if len(terms) == 0 {
		return
	}
	if !detractor {
		scopes = []string{keys.OthersGroup}
	}
	ms := at.UnixMilli()
	hour, day := time.Hour.Milliseconds(), (24 * time.Hour).Milliseconds()
	for _, b := range []struct {
		name    string
		expires int64
	}{
		{"h" + strconv.FormatInt(ms/hour, 10), (ms/hour+1)*hour + store.ThemeHourKept.Milliseconds()},
		{"d" + strconv.FormatInt(ms/day, 10), (ms/day+1)*day + store.ThemeDayKept.Milliseconds()},
	} {
		// A margin of an hour keeps clear of buckets being swept.
		if b.expires <= t.now+time.Hour.Milliseconds() {
			continue
		}
		for _, sc := range scopes {
			t.deltas[termKey{sc, b.name, keys.CommentsField}] += sign
			for _, term := range terms {
				t.deltas[termKey{sc, b.name, term}] += sign
			}
		}
	}
}

// slice lists the term changes, the comment counts first: a bucket full
// of terms (store.TermsKept) still counts its comments.
func (t *themes) slice() []store.TermDelta {
	var counts, terms []store.TermDelta
	for k, n := range t.deltas {
		if n == 0 {
			continue
		}
		td := store.TermDelta{Scope: k.scope, Bucket: k.bucket, Term: k.term, N: n}
		if k.term == keys.CommentsField {
			counts = append(counts, td)
		} else {
			terms = append(terms, td)
		}
	}
	return append(counts, terms...)
}
