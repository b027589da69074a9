package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/mpack"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// Calendar periods are summed from buckets of the tenant's local hours,
// days and months, kept in hashes rotated by name: per scope one hash per
// calendar year (its days and months) and one per month (its hours). The
// sweeper deletes a year's hash once it leaves the retention (the start of
// the previous year) and a month's hours once HoursKeptMonths have passed.

// PeriodUnit is the length of a period bucket.
type PeriodUnit uint8

// The period buckets.
const (
	HourBucket  PeriodUnit = iota // a local hour, by the wall clock (period.System.Hour)
	DayBucket                     // a local day (day number)
	MonthBucket                   // a calendar month (month number)
)

// HoursKeptMonths is how many calendar months of local hours are kept (the
// current one and the one before): enough to compare a day, week or month
// under way with the one before to the hour. Comparisons reaching further
// back are to the day.
const HoursKeptMonths = 2

// PeriodDelta adds counters to one period bucket of one scope.
type PeriodDelta struct {
	Scope    string
	Unit     PeriodUnit
	Index    int64 // hour, day or month number
	Counters stats.Counters
}

// periodsKey holds one scope's day and month buckets of one calendar year.
func periodsKey(tenant, scope string, year int) string {
	return tenantKey(tenant, "p", scope, strconv.Itoa(year))
}

// hoursKey holds one scope's hour buckets of one calendar month.
func hoursKey(tenant, scope string, month int64) string {
	return tenantKey(tenant, "ph", scope, strconv.FormatInt(month, 10))
}

func dayField(day int64) string     { return "d" + strconv.FormatInt(day, 10) }
func monthField(month int64) string { return "m" + strconv.FormatInt(month, 10) }
func hourField(hour int64) string   { return strconv.FormatInt(hour, 10) }

// bucketKey returns the key and field of a period bucket of scope.
func bucketKey(sys period.System, tenant, scope string, u PeriodUnit, index int64) (key, field string) {
	switch u {
	case HourBucket:
		day := floorDiv(index, 24)
		return hoursKey(tenant, scope, sys.Month(day)), hourField(index)
	case DayBucket:
		return periodsKey(tenant, scope, sys.Year(index)), dayField(index)
	}
	return periodsKey(tenant, scope, sys.Year(sys.MonthStart(index))), monthField(index)
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

// spanBuckets lists the buckets that sum s: whole months where a month
// lies inside it, days elsewhere, then the hours.
func spanBuckets(sys period.System, tenant, scope string, s Span) (keys, fields []string) {
	add := func(u PeriodUnit, i int64) {
		k, f := bucketKey(sys, tenant, scope, u, i)
		keys, fields = append(keys, k), append(fields, f)
	}
	for d := s.From; d < s.To; {
		m := sys.Month(d)
		if first, next := sys.MonthStart(m), sys.MonthStart(m+1); first == d && next <= s.To {
			add(MonthBucket, m)
			d = next
			continue
		}
		add(DayBucket, d)
		d++
	}
	for h := range s.Hours {
		add(HourBucket, s.To*24+int64(h))
	}
	return keys, fields
}

// toDate is how the apply script sums one scope's to-date periods: the
// year hashes it reads (one, or two when the week began in the previous
// year) and, per alias, the fields of each.
type toDate struct {
	years []int
	// fields[a] lists, for alias a (period.Aliases), (slot, field) pairs:
	// slot indexes years.
	fields [][]slotField
	// until is when the local day ends: the sums are for the day before.
	until time.Time
}

type slotField struct {
	slot  int
	field string
}

// toDateOf returns how the to-date periods are summed at now: today, the
// week, month, quarter and year under way, each the sum of all its
// buckets (the week by its days, the others by their months), so that an
// event up to window.FutureTolerance ahead counts in the periods it falls
// in, as in the windows.
func toDateOf(sys period.System, now time.Time) toDate {
	today := sys.Day(now)
	td := toDate{until: sys.Start(today + 1)}
	slot := func(year int) int {
		for i, y := range td.years {
			if y == year {
				return i
			}
		}
		td.years = append(td.years, year)
		return len(td.years) - 1
	}
	for k := range period.Aliases {
		p := sys.Containing(period.Kind(k), today)
		var fs []slotField
		switch period.Kind(k) {
		case period.Day, period.Week:
			for d := p.First; d < p.End; d++ {
				fs = append(fs, slotField{slot(sys.Year(d)), dayField(d)})
			}
		default:
			for m := sys.Month(p.First); m < sys.Month(p.End); m++ {
				fs = append(fs, slotField{slot(sys.Year(p.First)), monthField(m)})
			}
		}
		td.fields = append(td.fields, fs)
	}
	return td
}

// blob writes the to-date sums as the scripts read them: one MessagePack
// array of the number of aliases, then per alias its name, the number of
// fields and (slot from 1, field) for each.
func (td *toDate) blob() []byte {
	n := 1
	for _, fs := range td.fields {
		n += 2 + 2*len(fs)
	}
	b := mpack.AppendInt(mpack.AppendArray(nil, n), int64(len(td.fields)))
	for a, fs := range td.fields {
		b = mpack.AppendInt(mpack.AppendString(b, period.Aliases[a]), int64(len(fs)))
		for _, f := range fs {
			b = mpack.AppendString(mpack.AppendInt(b, int64(f.slot+1)), f.field)
		}
	}
	return b
}

// keys returns the year hashes of scope the to-date sums read.
func (td *toDate) keys(tenant, scope string) []string {
	out := make([]string, len(td.years))
	for i, y := range td.years {
		out[i] = periodsKey(tenant, scope, y)
	}
	return out
}

// periodDeltasBlob writes period deltas as the apply script reads them:
// one MessagePack array holding, per delta, the number of its key in KEYS,
// its scope number, its field, and its non-zero counters (see
// mpack.AppendSparse). keyOf numbers the keys.
func periodDeltasBlob(sys period.System, tenant string, deltas []PeriodDelta, scopeIndex map[string]int, keyOf func(string) int) []byte {
	body := make([]byte, 0, 40*len(deltas))
	n := 0
	for i := range deltas {
		d := &deltas[i]
		key, field := bucketKey(sys, tenant, d.Scope, d.Unit, d.Index)
		body = mpack.AppendInt(body, int64(keyOf(key)))
		body = mpack.AppendInt(body, int64(scopeIndex[d.Scope]))
		body = mpack.AppendString(body, field)
		var k int
		body, k = mpack.AppendSparse(body, &d.Counters)
		n += 3 + k
	}
	return append(mpack.AppendArray(make([]byte, 0, 5+len(body)), n), body...)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// rollChunk is how many scopes one roll script call rewrites.
const rollChunk = 200

// RollPeriods rewrites the to-date periods of every scope of a tenant once
// its local day has changed since the last roll (the mark periods:day in
// the watermarks hash): at local midnight today starts again, and the
// week, month, quarter and year at theirs.
func (s *Store) RollPeriods(ctx context.Context, tenant string, sys period.System, now time.Time) error {
	mark, err := s.rdb.HGet(ctx, watermarksKey(tenant), "periods:day").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("reading the period mark of %s: %w", tenant, err)
	}
	today := strconv.FormatInt(sys.Day(now), 10)
	if mark == today {
		return nil
	}
	scopes, err := s.Scopes(ctx, tenant)
	if err != nil {
		return fmt.Errorf("listing the scopes of %s: %w", tenant, err)
	}
	for attempt := 0; ; attempt++ {
		moved, err := s.rollScopes(ctx, tenant, sys, now, scopes)
		if err != nil {
			return err
		}
		if moved.IsZero() {
			break
		}
		if attempt > 3 {
			return fmt.Errorf("rolling the periods of %s: the tenant's clock keeps moving past the local day", tenant)
		}
		now, today = moved, strconv.FormatInt(sys.Day(moved), 10)
	}
	if err := s.rdb.HSet(ctx, watermarksKey(tenant), "periods:day", today).Err(); err != nil {
		return fmt.Errorf("marking the periods of %s rolled: %w", tenant, err)
	}
	return nil
}

// rollScopes runs the roll script over scopes in chunks and writes their views;
// it returns the tenant's clock when that has passed the local day of now.
func (s *Store) rollScopes(ctx context.Context, tenant string, sys period.System, now time.Time, scopes []string) (time.Time, error) {
	td := toDateOf(sys, now)
	blob := td.blob()
	for len(scopes) > 0 {
		chunk := scopes[:min(rollChunk, len(scopes))]
		scopes = scopes[len(chunk):]
		keys := []string{watermarksKey(tenant), dirtyKey(tenant), pendingKey(tenant)}
		args := []any{now.UnixMilli(), td.until.UnixMilli(), blob, len(td.years), len(chunk)}
		for _, sc := range chunk {
			keys = append(keys, countersKey(tenant, sc))
			keys = append(keys, td.keys(tenant, sc)...)
			args = append(args, sc)
		}
		raw, err := s.roll.Run(ctx, s.rdb, keys, args...).Slice()
		if err != nil {
			return time.Time{}, fmt.Errorf("rolling the periods of %s: %w", tenant, err)
		}
		if tag, _ := raw[0].(string); tag == "period_moved" {
			ms, _ := strconv.ParseInt(fmt.Sprint(raw[1]), 10, 64)
			return time.UnixMilli(ms), nil
		}
		views, err := parseTotals(raw, 0)
		if err != nil {
			return time.Time{}, err
		}
		if err := s.writeViews(ctx, tenant, now, views); err != nil {
			return time.Time{}, err
		}
	}
	return time.Time{}, nil
}

// toDateSums reads one scope's to-date sums (as the scripts make them).
func (s *Store) toDateSums(ctx context.Context, tenant, scope string, td *toDate) (map[string]stats.Counters, error) {
	pipe := s.rdb.Pipeline()
	byYear := make([]map[string]*redis.StringCmd, len(td.years))
	for i := range td.years {
		byYear[i] = map[string]*redis.StringCmd{}
	}
	key := td.keys(tenant, scope)
	for _, fs := range td.fields {
		for _, f := range fs {
			if _, ok := byYear[f.slot][f.field]; !ok {
				byYear[f.slot][f.field] = pipe.HGet(ctx, key[f.slot], f.field)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading the periods of %s %s: %w", tenant, scope, err)
	}
	out := make(map[string]stats.Counters, len(td.fields))
	for a, fs := range td.fields {
		var sum stats.Counters
		for _, f := range fs {
			packed, err := byYear[f.slot][f.field].Bytes()
			if errors.Is(err, redis.Nil) {
				continue
			}
			c, err := mpack.UnpackCounters(packed)
			if err != nil {
				return nil, fmt.Errorf("period bucket %s of %s %s: %w", f.field, tenant, scope, err)
			}
			sum.Add(&c, 1)
		}
		out[period.Aliases[a]] = sum
	}
	return out, nil
}

// PeriodSums returns, per span, the summed counters of a scope's period
// buckets (one round trip for all of them).
func (s *Store) PeriodSums(ctx context.Context, tenant, scope string, sys period.System, spans []Span) ([]stats.Counters, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([][]*redis.SliceCmd, len(spans))
	for i, sp := range spans {
		keys, fields := spanBuckets(sys, tenant, scope, sp)
		byKey := map[string][]string{}
		var order []string
		for j, k := range keys {
			if _, ok := byKey[k]; !ok {
				order = append(order, k)
			}
			byKey[k] = append(byKey[k], fields[j])
		}
		for _, k := range order {
			cmds[i] = append(cmds[i], pipe.HMGet(ctx, k, byKey[k]...))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("reading the periods of %s %s: %w", tenant, scope, err)
	}
	out := make([]stats.Counters, len(spans))
	for i := range spans {
		for _, cmd := range cmds[i] {
			for _, v := range cmd.Val() {
				packed, ok := v.(string)
				if !ok {
					continue
				}
				c, err := mpack.UnpackCounters([]byte(packed))
				if err != nil {
					return nil, fmt.Errorf("a period bucket of %s %s: %w", tenant, scope, err)
				}
				out[i].Add(&c, 1)
			}
		}
	}
	return out, nil
}

// SweepPeriods deletes the period hashes of a tenant that left what is
// kept: every scope's year hashes before the retention (the start of the
// previous year) and its hour hashes more than HoursKeptMonths back, from
// where the last sweep stopped (the marks periods:y and periods:h in the
// watermarks hash). It judges by a day earlier than now, so that a writer
// whose clock is a little behind never writes into a hash already
// deleted.
func (s *Store) SweepPeriods(ctx context.Context, tenant string, sys period.System, now time.Time) error {
	marks, err := s.rdb.HMGet(ctx, watermarksKey(tenant), "periods:y", "periods:h").Result()
	if err != nil {
		return fmt.Errorf("reading the period sweep marks of %s: %w", tenant, err)
	}
	day := sys.Day(now) - 1
	lastYear := int64(sys.Year(sys.RetainedFrom(day))) - 1 // years up to this one are deleted
	lastMonth := sys.Month(day) - HoursKeptMonths          // hour months up to this one are deleted
	type unit struct {
		mark string
		last int64
		done any
		key  func(scope string, n int64) string
	}
	units := []unit{
		{"periods:y", lastYear, marks[0], func(sc string, n int64) string { return periodsKey(tenant, sc, int(n)) }},
		{"periods:h", lastMonth, marks[1], func(sc string, n int64) string { return hoursKey(tenant, sc, n) }},
	}
	var scopes []string
	for _, u := range units {
		from := u.last // a first sweep has nothing older to delete
		if done, ok := u.done.(string); ok {
			n, err := strconv.ParseInt(done, 10, 64)
			if err != nil {
				return fmt.Errorf("period sweep mark %s of %s: %q is not a number", u.mark, tenant, done)
			}
			from = n + 1
		}
		if from > u.last {
			continue
		}
		if scopes == nil {
			if scopes, err = s.Scopes(ctx, tenant); err != nil {
				return err
			}
		}
		pipe := s.rdb.Pipeline()
		for n := from; n <= u.last; n++ {
			for _, sc := range scopes {
				pipe.Del(ctx, u.key(sc, n))
			}
			if pipe.Len() > 1000 {
				if _, err := pipe.Exec(ctx); err != nil {
					return fmt.Errorf("dropping period buckets of %s: %w", tenant, err)
				}
			}
		}
		pipe.HSet(ctx, watermarksKey(tenant), u.mark, u.last)
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("dropping period buckets of %s: %w", tenant, err)
		}
	}
	return nil
}
