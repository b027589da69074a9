// Package periodbuckets is where a tenant's calendar periods are kept:
// which local hour, day and month buckets an event falls in and which of
// them are kept at an instant, the Redis hash and field of each, the
// buckets that sum a period or a part of one, and how the scripts sum the
// periods under way. It does no I/O: the store reads and writes the
// buckets, the pipeline decides what goes into them.
package periodbuckets

import (
	"strconv"
	"time"

	"github.com/cxpulse/cxpulse/pkg/period"
)

// Calendar periods are summed from buckets of the tenant's local hours,
// days and months, kept in hashes rotated by name: per scope one hash per
// calendar year (its days and months) and one per month (its hours). The
// sweeper deletes a year's hash once it leaves the retention (the start of
// the previous year) and a month's hours once HoursKeptMonths have passed.

// Unit is the length of a period bucket.
type Unit uint8

// The period buckets.
const (
	Hour  Unit = iota // a local hour, by the wall clock (period.System.Hour)
	Day               // a local day (day number)
	Month             // a calendar month (month number)
)

// HoursKeptMonths is how many calendar months of local hours are kept (the
// current one and the one before): enough to compare a day, week or month
// under way with the one before to the hour. Comparisons reaching further
// back are to the day.
const HoursKeptMonths = 2

// Kept says which buckets a tenant keeps at an instant.
type Kept struct {
	sys period.System
	// from is the first day kept (the start of the previous year), to the
	// last (tomorrow: events up to window.FutureTolerance ahead), and
	// hoursFrom the first month whose hours are kept.
	from, to  int64
	hoursFrom int64
}

// KeptAt returns what sys keeps at now.
func KeptAt(sys period.System, now time.Time) *Kept {
	today := sys.Day(now)
	return &Kept{sys: sys, from: sys.RetainedFrom(today), to: today + 1,
		hoursFrom: sys.Month(today) - HoursKeptMonths + 1}
}

// Holds reports whether b is kept: a day from the first kept to the last,
// a month whose first day is kept, an hour of a day kept in a month whose
// hours are kept.
func (k *Kept) Holds(b Bucket) bool {
	switch b.Unit {
	case Day:
		return b.Index >= k.from && b.Index <= k.to
	case Month:
		return k.sys.MonthStart(b.Index) >= k.from && k.sys.MonthStart(b.Index) <= k.to
	}
	day := floorDiv(b.Index, 24)
	return day >= k.from && day <= k.to && k.sys.Month(day) >= k.hoursFrom
}

// Bucket is one bucket: its unit and its hour, day or month number.
type Bucket struct {
	Unit  Unit
	Index int64
}

// Of returns the kept buckets an event at at falls in: its day and month,
// and its hour while hours of its month are kept; none when its day is
// not kept.
func (k *Kept) Of(at time.Time, out []Bucket) []Bucket {
	hour, day, month := k.sys.Buckets(at)
	if day < k.from || day > k.to {
		return out
	}
	out = append(out, Bucket{Day, day}, Bucket{Month, month})
	if month >= k.hoursFrom {
		out = append(out, Bucket{Hour, hour})
	}
	return out
}

// YearKey holds one scope's day and month buckets of one calendar year.
func YearKey(tenant, scope string, year int) string {
	return key(tenant, "p", scope, strconv.Itoa(year))
}

// HoursKey holds one scope's hour buckets of one calendar month.
func HoursKey(tenant, scope string, month int64) string {
	return key(tenant, "ph", scope, strconv.FormatInt(month, 10))
}

// key is a key of tenant as docs/redis.md names them: cxpulse:{t}:<parts>.
func key(tenant string, parts ...string) string {
	k := "cxpulse:{" + tenant + "}"
	for _, p := range parts {
		k += ":" + p
	}
	return k
}

func dayField(day int64) string     { return "d" + strconv.FormatInt(day, 10) }
func monthField(month int64) string { return "m" + strconv.FormatInt(month, 10) }
func hourField(hour int64) string   { return strconv.FormatInt(hour, 10) }

// Locate returns the key and field of a bucket of scope.
func Locate(sys period.System, tenant, scope string, b Bucket) (key, field string) {
	switch b.Unit {
	case Hour:
		day := floorDiv(b.Index, 24)
		return HoursKey(tenant, scope, sys.Month(day)), hourField(b.Index)
	case Day:
		return YearKey(tenant, scope, sys.Year(b.Index)), dayField(b.Index)
	}
	return YearKey(tenant, scope, sys.Year(sys.MonthStart(b.Index))), monthField(b.Index)
}

// Span is a run of whole local days and then the first hours of one more
// day, as the buckets that sum it: what a period, or the part of one a
// comparison covers, is read from.
type Span struct {
	// Days are the whole days [From, To).
	From, To int64
	// Hours are the first Hours hours (wall clock) of day To.
	Hours int
}

// SpanOf is the span of a whole period.
func SpanOf(p period.Period) Span { return Span{From: p.First, To: p.End} }

// Buckets lists the buckets that sum s: whole months where a month lies
// inside it, days elsewhere, then the hours.
func (s Span) Buckets(sys period.System) []Bucket {
	var out []Bucket
	for d := s.From; d < s.To; {
		m := sys.Month(d)
		if first, next := sys.MonthStart(m), sys.MonthStart(m+1); first == d && next <= s.To {
			out = append(out, Bucket{Month, m})
			d = next
			continue
		}
		out = append(out, Bucket{Day, d})
		d++
	}
	for h := range s.Hours {
		out = append(out, Bucket{Hour, s.To*24 + int64(h)})
	}
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
