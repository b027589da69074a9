package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/customers"
	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/mpack"
	"github.com/cxpulse/cxpulse/internal/periodbuckets"
	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/internal/store/views"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// Apply runs the apply script for one slice and, when it applied, writes
// the views of the scopes it changed. The script writes nothing unless
// every check passes (watermarks, epochs, ids and customer versions); see
// Outcome for what to do otherwise.
func (s *Store) Apply(ctx context.Context, sl *Slice) (Result, error) {
	res, err := s.applyScript(ctx, sl)
	if err != nil || res.Outcome != Applied {
		return res, err
	}
	// The sweep mark goes after the script and the views, so that a sweep
	// that took the tenant before this mark reads what the slice wrote.
	var mark func(redis.Pipeliner)
	if due := s.sweepDueIn(sl); !due.IsZero() {
		mark = func(pipe redis.Pipeliner) { s.markSweepDue(ctx, pipe, due, sl.Tenant) }
	}
	if len(res.Views) == 0 {
		// No view to write (dead letters only): the publisher still has
		// the tenant's outbox to publish.
		return res, views.MarkChanged(ctx, s.rdb, sl.Tenant, mark)
	}
	return res, s.Writer.WriteAndMark(ctx, sl.Tenant, sl.Now, res.Views, mark)
}

// FlushPendingViews rewrites now every view of the tenant left pending
// (see views.Writer.FlushPendingViews) and makes its sweep due now: the
// lost attempt did not mark when what it wrote leaves.
func (s *Store) FlushPendingViews(ctx context.Context, tenant string, sys period.System, now time.Time) error {
	if err := s.Writer.FlushPendingViews(ctx, tenant, sys, now); err != nil {
		return err
	}
	return s.MarkSweepDue(ctx, now, tenant)
}

// applyScript runs the apply script only, leaving the views pending (as a
// crash right after it would).
func (s *Store) applyScript(ctx context.Context, sl *Slice) (Result, error) {
	now := sl.Now.UnixMilli()
	period := now / s.horizon.Milliseconds()
	samples := latestSamples(sl.Samples)
	scopes, scopeIndex := sliceScopes(sl, samples)
	ks := make([]string, 0, 12+3*len(scopes))
	ks = append(ks, keys.Watermarks(sl.Tenant), keys.IDs(sl.Tenant, period), keys.IDs(sl.Tenant, period-1),
		keys.Expiry(sl.Tenant), keys.Dirty(sl.Tenant), keys.Scopes(sl.Tenant), keys.Outbox(sl.Tenant), keys.Pending(sl.Tenant),
		keys.Customers(sl.Tenant), keys.CustomersDue(sl.Tenant), keys.Conversions(sl.Tenant), keys.Codes(sl.Tenant))
	for _, sc := range scopes {
		ks = append(ks, keys.Counters(sl.Tenant, sc), keys.Active(sl.Tenant, sc), keys.Samples(sl.Tenant, sc))
	}
	sys := sl.periods()
	td := periodbuckets.ToDateOf(sys, sl.Now)
	for _, sc := range scopes {
		ks = append(ks, td.Keys(sl.Tenant, sc)...)
	}
	termKeys, terms := termsBlob(sl.Tenant, sl.Terms)
	ks = append(ks, termKeys...)
	args := make([]any, 0, 16+6*len(sl.Ranges)+len(scopes)+len(sl.Letters)+
		8*len(sl.Customers)+2*len(sl.Codes)+3*len(samples))
	args = append(args, now, s.horizon.Milliseconds(), s.windowsCSV, len(sl.Ranges))
	for _, r := range sl.Ranges {
		args = append(args, r.Partition, r.Epoch, r.Start, r.End, r.Expect, r.Rewound)
	}
	args = append(args, len(scopes))
	for _, sc := range scopes {
		args = append(args, sc)
	}
	ids, expects, recs := idsBlobs(sl)
	args = append(args, ids, expects, recs, s.deltasBlob(sl.Deltas, scopeIndex))
	args, err := appendLetters(args, sl.Letters)
	if err != nil {
		return Result{}, err
	}
	args = append(args, customersBlob(sl.Customers, scopeIndex), len(sl.Codes))
	for code, referrer := range sl.Codes {
		args = append(args, code, referrer)
	}
	args = append(args, terms)
	if args, err = appendSamples(args, samples, scopeIndex); err != nil {
		return Result{}, err
	}
	keyNumber := map[string]int{}
	keyOf := func(k string) int {
		n, ok := keyNumber[k]
		if !ok {
			ks = append(ks, k)
			n = len(ks)
			keyNumber[k] = n
		}
		return n
	}
	erasure, err := erasureArgs(sl, scopeIndex, keyOf)
	if err != nil {
		return Result{}, err
	}
	args = append(args, erasure...)
	args = append(args, periodDeltasBlob(sys, sl.Tenant, sl.PeriodDeltas, scopeIndex, keyOf), td.Blob(), len(td.Years), td.Until.UnixMilli())
	raw, err := s.apply.Run(ctx, s.rdb, ks, args...).Slice()
	if err != nil {
		return Result{}, fmt.Errorf("applying slice of tenant %s: %w", sl.Tenant, err)
	}
	return parseApplyAnswer(raw)
}

// parseApplyAnswer reads what the apply script answered.
func parseApplyAnswer(raw []any) (Result, error) {
	if len(raw) > 0 && raw[0] == "ok" {
		views, err := views.ParseTotals(raw, 1)
		return Result{Outcome: Applied, Views: views}, err
	}
	res := make([]string, len(raw))
	for i, v := range raw {
		res[i] = fmt.Sprint(v)
	}
	if len(res) == 0 {
		return Result{}, fmt.Errorf("apply script answered nothing")
	}
	number := func(i int) (int64, error) {
		if i >= len(res) {
			return 0, fmt.Errorf("apply script answered %q", res)
		}
		n, err := strconv.ParseInt(res[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("apply script answered %q", res)
		}
		return n, nil
	}
	switch res[0] {
	case "skip":
		out := Result{Outcome: Skipped, Watermarks: map[string]int64{}}
		for i := 1; i+1 < len(res); i += 2 {
			wm, err := strconv.ParseInt(res[i+1], 10, 64)
			if err != nil {
				return Result{}, fmt.Errorf("watermark of %s: %w", res[i], err)
			}
			out.Watermarks[res[i]] = wm
		}
		return out, nil
	case "fenced":
		return Result{Outcome: Fenced, Partition: res[1]}, nil
	case "rewind":
		id, err := number(2)
		return Result{Outcome: Rewind, Partition: res[1], Expected: id}, err
	case "erasures":
		n, err := number(1)
		return Result{Outcome: ErasuresMoved, Expected: n}, err
	case "erased":
		return Result{Outcome: AlreadyErased, Receipt: res[1]}, nil
	case "stale_read":
		return Result{Outcome: StaleRead}, nil
	case "outbox_full":
		return Result{Outcome: OutboxFull}, nil
	case "period_moved":
		ms, err := number(1)
		return Result{Outcome: PeriodMoved, Now: time.UnixMilli(ms)}, err
	case "behind":
		exp, err := number(3)
		return Result{Outcome: Behind, Partition: res[1], Watermark: res[2], Expected: exp}, err
	case "conflict":
		return parseConflicts(res)
	}
	return Result{}, fmt.Errorf("apply script answered %q", res)
}

// latestSamples keeps, per scope, the latest SamplesKept comment samples
// of a slice (earlier ones would be pushed out anyway) and every drop.
func latestSamples(all []Sample) []Sample {
	perScope := map[string]int{}
	samples := make([]Sample, 0, len(all))
	for i := len(all) - 1; i >= 0; i-- {
		smp := all[i]
		switch {
		case smp.Drop:
			samples = append(samples, smp)
		case perScope[smp.Scope] < SamplesKept:
			perScope[smp.Scope]++
			samples = append(samples, smp)
		}
	}
	slices.Reverse(samples)
	return samples
}

// sliceScopes lists the scopes a slice writes, numbered from 1 in the
// order first named.
func sliceScopes(sl *Slice, samples []Sample) ([]string, map[string]int) {
	scopeIndex := map[string]int{}
	var scopes []string
	note := func(scope string) {
		if _, ok := scopeIndex[scope]; !ok {
			scopes = append(scopes, scope)
			scopeIndex[scope] = len(scopes)
		}
	}
	for _, d := range sl.Deltas {
		note(d.Scope)
	}
	for _, d := range sl.PeriodDeltas {
		note(d.Scope)
	}
	for _, c := range sl.Customers {
		for _, ch := range c.Active {
			note(ch.Scope)
		}
	}
	for _, smp := range samples {
		note(smp.Scope)
	}
	if sl.Erase != nil {
		for _, smp := range sl.Erase.Samples {
			note(smp.Scope)
		}
	}
	return scopes, scopeIndex
}

// termsBlob writes the term changes as one MessagePack array of (theme
// bucket number, term, change), the buckets numbered from 1 in the order
// of the keys returned.
func termsBlob(tenant string, deltas []TermDelta) ([]string, []byte) {
	type bucketKey struct{ scope, bucket string }
	number := map[bucketKey]int{}
	var ks []string
	terms := mpack.AppendArray(make([]byte, 0, 5+16*len(deltas)), 3*len(deltas))
	for _, td := range deltas {
		k := bucketKey{td.Scope, td.Bucket}
		n, ok := number[k]
		if !ok {
			ks = append(ks, keys.Terms(tenant, td.Scope, td.Bucket))
			n = len(ks)
			number[k] = n
		}
		terms = mpack.AppendInt(mpack.AppendString(mpack.AppendInt(terms, int64(n)), td.Term), td.N)
	}
	return ks, terms
}

// idsBlobs writes the ids checked, the revisions expected of them (-1:
// new) and the (id, record) pairs to remember, each a MessagePack array.
func idsBlobs(sl *Slice) (ids, expects, recs []byte) {
	ids = mpack.AppendArray(make([]byte, 0, 5+24*len(sl.IDs)), len(sl.IDs))
	expects = mpack.AppendArray(make([]byte, 0, 5+2*len(sl.IDs)), len(sl.IDs))
	for _, c := range sl.IDs {
		ids = mpack.AppendString(ids, c.ID)
		expects = mpack.AppendInt(expects, c.Expect) // dedupe.NewEvent is -1
	}
	recs = mpack.AppendArray(make([]byte, 0, 5+160*len(sl.Records)), 2*len(sl.Records))
	var buf []byte
	for i := range sl.Records {
		buf = sl.Records[i].AppendTo(buf[:0])
		recs = mpack.AppendString(mpack.AppendString(recs, sl.Records[i].ID), buf)
	}
	return ids, expects, recs
}

// appendLetters appends the count of dead letters and each as JSON.
func appendLetters(args []any, letters []Letter) ([]any, error) {
	args = append(args, len(letters))
	for i := range letters {
		b, err := json.Marshal(&letters[i])
		if err != nil {
			return nil, fmt.Errorf("encoding dead letter: %w", err)
		}
		args = append(args, b)
	}
	return args, nil
}

// appendSamples appends the count of samples and, for each, its scope
// number, its id's prefix and the sample ("" to drop the event's only).
func appendSamples(args []any, samples []Sample, scopeIndex map[string]int) ([]any, error) {
	args = append(args, len(samples))
	for _, smp := range samples {
		prefix, err := SamplePrefix(smp.ID)
		if err != nil {
			return nil, err
		}
		var b []byte
		if !smp.Drop {
			if b, err = json.Marshal(smp); err != nil {
				return nil, fmt.Errorf("encoding a comment sample: %w", err)
			}
		}
		args = append(args, scopeIndex[smp.Scope], prefix, b)
	}
	return args, nil
}

// deltasBlob writes the deltas as the apply script reads them: one
// MessagePack array holding, per delta, its scope number, window number
// (from 1), field (window:bucket), the instant its bucket leaves the window
// (ms), and its non-zero counters (see appendSparse).
func (s *Store) deltasBlob(deltas []Delta, scopeIndex map[string]int) []byte {
	body := make([]byte, 0, 40*len(deltas))
	var field []byte
	n := 0
	for i := range deltas {
		d := &deltas[i]
		w := s.windows[d.Window]
		body = mpack.AppendInt(body, int64(scopeIndex[d.Scope]))
		body = mpack.AppendInt(body, int64(d.Window+1))
		field = strconv.AppendInt(append(append(field[:0], w.Name...), ':'), d.Bucket, 10)
		body = mpack.AppendString(body, field)
		body = mpack.AppendInt(body, w.Leaves(d.Bucket).UnixMilli())
		var k int
		body, k = mpack.AppendSparse(body, &d.Counters)
		n += 4 + k
	}
	return append(mpack.AppendArray(make([]byte, 0, 5+len(body)), n), body...)
}

// customersBlob writes the customer updates as the apply script reads
// them: one MessagePack array holding, per customer, its id, the version
// expected (-1: none), the record ("" to forget), the new version, the due
// time (0: never, -1: unchanged), the number of active-set changes and
// (scope number, spell start or -1 to remove) for each, the conversion to
// remove, the one to add and its time.
func customersBlob(customers []CustomerUpdate, scopeIndex map[string]int) []byte {
	body := make([]byte, 0, 256*len(customers))
	n := 0
	for i := range customers {
		c := &customers[i]
		body = mpack.AppendString(body, c.ID)
		body = mpack.AppendInt(body, c.Expect) // NewEvent is -1
		body = mpack.AppendString(body, c.Record)
		body = mpack.AppendInt(body, c.Version)
		body = mpack.AppendInt(body, c.Due)
		body = mpack.AppendInt(body, int64(len(c.Active)))
		for _, ch := range c.Active {
			since := ch.Since
			if ch.Remove {
				since = -1
			}
			body = mpack.AppendInt(mpack.AppendInt(body, int64(scopeIndex[ch.Scope])), since)
		}
		body = mpack.AppendString(body, c.ConversionDel)
		body = mpack.AppendString(body, c.ConversionAdd)
		body = mpack.AppendInt(body, c.ConversionAt)
		n += 9 + 2*len(c.Active)
	}
	return append(mpack.AppendArray(make([]byte, 0, 5+len(body)), n), body...)
}

// parseConflicts reads a conflict answer: 'conflict', the number of ids
// and (id, record) pairs, the number of customers and (id, record) pairs.
func parseConflicts(res []string) (Result, error) {
	out := Result{Outcome: Conflict, Conflicts: map[string]*dedupe.Record{}, CustomerConflicts: map[string]*customers.StoredRecord{}}
	i := 1
	pairs := func(each func(id, rec string) error) error {
		if i >= len(res) {
			return errors.New("conflict answer truncated")
		}
		n, err := strconv.Atoi(res[i])
		if err != nil || i+1+2*n > len(res) {
			return fmt.Errorf("conflict answer: bad count %q", res[i])
		}
		i++
		for range n {
			if err := each(res[i], res[i+1]); err != nil {
				return err
			}
			i += 2
		}
		return nil
	}
	err := pairs(func(id, rec string) error {
		if rec == "" {
			out.Conflicts[id] = nil
			return nil
		}
		r, err := dedupe.Decode(id, rec)
		out.Conflicts[id] = r
		return err
	})
	if err != nil {
		return Result{}, err
	}
	err = pairs(func(id, rec string) error {
		if rec == "" {
			out.CustomerConflicts[id] = nil
			return nil
		}
		r, err := customers.ParseStored(id, rec)
		out.CustomerConflicts[id] = r
		return err
	})
	if err != nil {
		return Result{}, err
	}
	return out, nil
}
