// Package store keeps cxpulse's state in Redis: per tenant the bucketed
// counters and running totals of every scope and window, the public view,
// the remembered event ids, the partition watermarks and the dirty-scope
// outbox, all under the tenant's hash tag so one script updates them
// atomically on a single Redis or a Cluster. Deciding what to apply is left
// to the aggregator; this package applies it exactly once.
package store

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/pkg/window"
)

var (
	//go:embed msgpack.lua
	msgpackLua string
	//go:embed scripts.lua
	scriptsLua string
	// sharedLua is what every script starts with.
	sharedLua = msgpackLua + scriptsLua
	//go:embed apply.lua
	applyLua string
	//go:embed sweep.lua
	sweepLua string
)

// Key prefix of every cxpulse key.
const prefix = "cxpulse:"

// TenantsKey is the set of tenants seen, for the sweeper and publisher.
const TenantsKey = prefix + "tenants"

// tenantKey returns a key of tenant t: cxpulse:{t}:<parts>.
func tenantKey(t string, parts ...string) string {
	return prefix + "{" + t + "}:" + strings.Join(parts, ":")
}

// ViewKey is the public view of one scope (DESIGN §5).
func ViewKey(tenant, scope string) string { return tenantKey(tenant, "scores", scope) }

func countersKey(tenant, scope string) string { return tenantKey(tenant, "s", scope) }
func watermarksKey(tenant string) string      { return tenantKey(tenant, "wm") }
func expiryKey(tenant string) string          { return tenantKey(tenant, "exp") }
func dirtyKey(tenant string) string           { return tenantKey(tenant, "dirty") }
func outboxKey(tenant string) string          { return tenantKey(tenant, "outbox") }

func activeKey(tenant, scope string) string  { return tenantKey(tenant, "act", scope) }
func customersKey(tenant string) string      { return tenantKey(tenant, "cust") }
func customersDueKey(tenant string) string   { return tenantKey(tenant, "cdue") }
func conversionsKey(tenant string) string    { return tenantKey(tenant, "conv") }
func codesKey(tenant string) string          { return tenantKey(tenant, "codes") }
func samplesKey(tenant, scope string) string { return tenantKey(tenant, "samples", scope) }
func termsKey(tenant, scope, bucket string) string {
	return tenantKey(tenant, "terms", scope, bucket)
}

// ScopesKey is the set of scopes a tenant has data in.
func ScopesKey(tenant string) string   { return tenantKey(tenant, "scopes") }
func dimKey(tenant, dim string) string { return tenantKey(tenant, "dim", dim) }
func idsKey(tenant string, period int64) string {
	return tenantKey(tenant, "ids", strconv.FormatInt(period, 10))
}

// Store applies slices and sweeps windows.
type Store struct {
	rdb        redis.UniversalClient
	windows    []window.Window
	windowsCSV string
	horizon    time.Duration
	apply      *redis.Script
	sweep      *redis.Script
	admit      *redis.Script
	commit     *redis.Script
	undirty    *redis.Script
	writeView  *redis.Script

	fields  [][]string // per window, the view fields of its stats
	viewsMu sync.Mutex
	views   map[string]*writtenView // tenant \x00 scope → what this instance last wrote
	// pendingSeen holds, per tenant, the pending views (scope → version)
	// RepairViews saw last.
	pendingSeen map[string]map[string]string
}

// New returns a Store over rdb for the given windows and dedupe horizon.
func New(rdb redis.UniversalClient, windows []window.Window, horizon time.Duration) *Store {
	names := make([]string, len(windows))
	for i, w := range windows {
		names[i] = fmt.Sprintf("%s:%d:%d", w.Name, w.Length.Milliseconds(), w.Bucket.Milliseconds())
	}
	return &Store{
		rdb: rdb, windows: windows, windowsCSV: strings.Join(names, ","), horizon: horizon,
		apply:       redis.NewScript(sharedLua + applyLua),
		sweep:       redis.NewScript(sharedLua + sweepLua),
		admit:       redis.NewScript(admitLua),
		commit:      redis.NewScript(commitLua),
		undirty:     redis.NewScript(undirtyLua),
		writeView:   redis.NewScript(sharedLua + writeViewLua),
		views:       map[string]*writtenView{},
		pendingSeen: map[string]map[string]string{},
		fields:      statFields(windows),
	}
}

// Windows returns the configured windows, shortest first.
func (s *Store) Windows() []window.Window { return s.windows }

// Delta adds counters to one bucket of one window of one scope.
type Delta struct {
	Scope    string
	Window   int // index into Windows()
	Bucket   int64
	Counters Counters
}

// Record is what is remembered of an applied event: enough to recognise a
// repeat and to retract its contribution when a revision replaces it.
type Record struct {
	ID         string
	Revision   int64
	Arrival    time.Time
	OccurredAt time.Time
	Type       string
	Scopes     []string
	Counters   Counters
	CustomerID string
	// Terms are the theme terms of a detractor comment, so a revision can
	// retract them.
	Terms []string
}

// appendTo appends the record as the scripts store it.
func (r *Record) appendTo(b []byte) []byte {
	b = strconv.AppendInt(b, r.Revision, 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, r.Arrival.UnixMilli(), 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, r.OccurredAt.UnixMilli(), 10)
	b = append(b, '|')
	b = append(b, r.Type...)
	b = append(b, '|')
	for i, sc := range r.Scopes {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, sc...)
	}
	b = append(b, '|')
	b = r.Counters.appendText(b)
	b = append(b, '|')
	for i, t := range r.Terms {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, t...)
	}
	b = append(b, '|')
	return append(b, r.CustomerID...)
}

func decodeRecord(id, s string) (*Record, error) {
	parts := strings.SplitN(s, "|", 8)
	if len(parts) != 8 {
		return nil, fmt.Errorf("record of %q: %d fields", id, len(parts))
	}
	rev, err1 := strconv.ParseInt(parts[0], 10, 64)
	arr, err2 := strconv.ParseInt(parts[1], 10, 64)
	occ, err3 := strconv.ParseInt(parts[2], 10, 64)
	c, ok := parseSparse(parts[5])
	if err := errors.Join(err1, err2, err3); err != nil || !ok {
		return nil, fmt.Errorf("record of %q is corrupt: %q", id, s)
	}
	var scopes []string
	if parts[4] != "" {
		scopes = strings.Split(parts[4], ";")
	}
	var terms []string
	if parts[6] != "" {
		terms = strings.Split(parts[6], ",")
	}
	return &Record{ID: id, Revision: rev, Arrival: time.UnixMilli(arr), OccurredAt: time.UnixMilli(occ),
		Type: parts[3], Scopes: scopes, Counters: c, Terms: terms, CustomerID: parts[7]}, nil
}

// NewEvent marks an id the slice expects to be new (not remembered).
const NewEvent = -1

// IDCheck states what the slice assumed about a remembered id: NewEvent,
// or the revision it saw stored.
type IDCheck struct {
	ID     string
	Expect int64
}

// Range is the part of one partition a slice covers: every message of the
// tenant in [Start, End) is in the slice.
type Range struct {
	Partition string // topic/partition
	Epoch     int64  // the claim this consumer holds
	Start     int64
	End       int64
}

// Slice is one tenant's part of fetched batches of one or more partitions.
type Slice struct {
	Tenant  string
	Ranges  []Range
	Now     time.Time
	IDs     []IDCheck
	Records []Record
	Deltas  []Delta
	// Letters are dead letters whose reason depends on what is remembered
	// (too_late, in_future, revision_conflict): they are queued in the
	// tenant's outbox atomically with the slice.
	Letters []Letter
	// Customers are the customer records the slice rewrites, each checked
	// against the version the plan was made from.
	Customers []CustomerUpdate
	// Codes maps referral codes to their referrers.
	Codes map[string]string
	// Terms change the theme term counts of detractor comments.
	Terms []TermDelta
	// Samples are recent detractor comments, kept a few per scope.
	Samples []Sample
}

// TermDelta changes one term's count in one theme bucket of one scope.
type TermDelta struct {
	Scope  string
	Bucket string // "h<hour number>" or "d<day number>", counted from the epoch
	Term   string
	N      int64
}

// Theme buckets are kept this long after they end; the planner creates
// none older, and the sweeper deletes them by name.
const (
	ThemeHourKept = 48 * time.Hour
	ThemeDayKept  = 31 * 24 * time.Hour
)

// Sample is a recent detractor comment of a scope.
type Sample struct {
	Scope string `json:"-"`
	ID    string `json:"id"`
	At    int64  `json:"at"` // occurred_at, unix ms
	Score int    `json:"score"`
	Text  string `json:"text"`
}

// SamplesKept is how many recent detractor comments a scope keeps.
const SamplesKept = 3

// CustomerUpdate rewrites one customer's record and what follows from it
// outside the bucket counters.
type CustomerUpdate struct {
	ID     string
	Expect int64  // the stored version the plan saw, NewEvent when none
	Record []byte // the new record; nil forgets the customer
	// Version is the new record's version: above Expect, and no less than
	// the instant of the write in unix ms, so a customer forgotten and seen
	// again does not reuse an earlier version.
	Version int64
	Due     int64 // unix ms at which the record must be looked at again; 0: never; DueUnchanged
	// Active sets, per scope, the start (unix ms) of the customer's current
	// activity spell, or removes the customer from the scope's active set.
	Active []ActiveChange
	// Conversion moves the customer's referral conversion (a first
	// purchase with a code): the old member is removed, the new one added.
	ConversionDel, ConversionAdd string
	ConversionAt                 int64
}

// ActiveChange is one change to a scope's set of active customers.
type ActiveChange struct {
	Scope  string
	Since  int64 // spell start, unix ms
	Remove bool
}

// DueUnchanged leaves a customer's due time as stored.
const DueUnchanged = -1

// CustomerRecord is a stored customer record and its version.
type CustomerRecord struct {
	Version int64
	Data    []byte
}

// ConversionMember names a referral conversion in the tenant's
// conversions set.
func ConversionMember(customer, code string) string { return customer + "\t" + code }

// Letter is a dead letter waiting in a tenant's outbox.
type Letter struct {
	Key    []byte `json:"k"`
	Value  []byte `json:"v"`
	Reason string `json:"r"`
	Detail string `json:"d"`
	Source string `json:"s"`
}

// Outbox returns up to n queued dead letters of a tenant, oldest first.
func (s *Store) Outbox(ctx context.Context, tenant string, n int) ([]Letter, error) {
	raw, err := s.rdb.LRange(ctx, outboxKey(tenant), 0, int64(n-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading outbox of %s: %w", tenant, err)
	}
	out := make([]Letter, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal([]byte(r), &out[i]); err != nil {
			return nil, fmt.Errorf("outbox entry of %s: %w", tenant, err)
		}
	}
	return out, nil
}

// TrimOutbox drops the n oldest entries of a tenant's outbox, once
// published.
func (s *Store) TrimOutbox(ctx context.Context, tenant string, n int) error {
	return s.rdb.LTrim(ctx, outboxKey(tenant), int64(n), -1).Err()
}

// Outcome is what Apply did.
type Outcome int

// Outcomes of Apply.
const (
	// Applied: everything was written.
	Applied Outcome = iota + 1
	// Skipped: some ranges start below the tenant's watermark for their
	// partition; nothing was written. Trim to Watermarks and retry.
	Skipped
	// Fenced: a claim with a higher epoch has written to Partition; nothing
	// was written and this consumer must stop working on that partition.
	Fenced
	// Conflict: some ids were not as assumed; nothing was written.
	// Conflicts holds their stored records (nil: not remembered).
	Conflict
)

// Result is the answer of Apply.
type Result struct {
	Outcome    Outcome
	Watermarks map[string]int64 // Skipped: partition → watermark
	Partition  string           // Fenced
	Conflicts  map[string]*Record
	// CustomerConflicts holds the stored records of customers that were not
	// at the expected version (nil: none stored).
	CustomerConflicts map[string]*CustomerRecord
	// Views holds, when Applied, the new totals of every scope the slice
	// changed: pass them to WriteViews.
	Views []ScopeTotals
}

// deltasBlob writes the deltas as the apply script reads them: one
// MessagePack array holding, per delta, its scope number, window number
// (from 1), field (window:bucket), the instant its bucket leaves the window
// (ms), and its non-zero counters (see Counters.appendSparse).
func (s *Store) deltasBlob(deltas []Delta, scopeIndex map[string]int) []byte {
	body := make([]byte, 0, 40*len(deltas))
	var field []byte
	n := 0
	for i := range deltas {
		d := &deltas[i]
		w := s.windows[d.Window]
		body = appendInt(body, int64(scopeIndex[d.Scope]))
		body = appendInt(body, int64(d.Window+1))
		field = strconv.AppendInt(append(append(field[:0], w.Name...), ':'), d.Bucket, 10)
		body = appendString(body, field)
		body = appendInt(body, w.Leaves(d.Bucket).UnixMilli())
		var k int
		body, k = d.Counters.appendSparse(body)
		n += 4 + k
	}
	return append(appendArray(make([]byte, 0, 5+len(body)), n), body...)
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
		body = appendString(body, c.ID)
		body = appendInt(body, c.Expect) // NewEvent is -1
		body = appendString(body, c.Record)
		body = appendInt(body, c.Version)
		body = appendInt(body, c.Due)
		body = appendInt(body, int64(len(c.Active)))
		for _, ch := range c.Active {
			since := ch.Since
			if ch.Remove {
				since = -1
			}
			body = appendInt(appendInt(body, int64(scopeIndex[ch.Scope])), since)
		}
		body = appendString(body, c.ConversionDel)
		body = appendString(body, c.ConversionAdd)
		body = appendInt(body, c.ConversionAt)
		n += 9 + 2*len(c.Active)
	}
	return append(appendArray(make([]byte, 0, 5+len(body)), n), body...)
}

// Apply runs the apply script for one slice.
func (s *Store) Apply(ctx context.Context, sl *Slice) (Result, error) {
	now := sl.Now.UnixMilli()
	period := now / s.horizon.Milliseconds()
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
	for _, c := range sl.Customers {
		for _, ch := range c.Active {
			note(ch.Scope)
		}
	}
	// Only the latest SamplesKept comment samples of a scope stay listed:
	// earlier ones of the slice need not be sent.
	perScope := map[string]int{}
	samples := make([]Sample, 0, len(sl.Samples))
	for i := len(sl.Samples) - 1; i >= 0; i-- {
		if smp := sl.Samples[i]; perScope[smp.Scope] < SamplesKept {
			perScope[smp.Scope]++
			samples = append(samples, smp)
		}
	}
	slices.Reverse(samples)
	for _, smp := range samples {
		note(smp.Scope)
	}
	keys := make([]string, 0, 12+3*len(scopes))
	keys = append(keys, watermarksKey(sl.Tenant), idsKey(sl.Tenant, period), idsKey(sl.Tenant, period-1),
		expiryKey(sl.Tenant), dirtyKey(sl.Tenant), ScopesKey(sl.Tenant), outboxKey(sl.Tenant), pendingKey(sl.Tenant),
		customersKey(sl.Tenant), customersDueKey(sl.Tenant), conversionsKey(sl.Tenant), codesKey(sl.Tenant))
	for _, sc := range scopes {
		keys = append(keys, countersKey(sl.Tenant, sc), activeKey(sl.Tenant, sc), samplesKey(sl.Tenant, sc))
	}
	// Term changes: one MessagePack array of (key number, term, change).
	type bucketKey struct{ scope, bucket string }
	termKeys := map[bucketKey]int{}
	terms := appendArray(make([]byte, 0, 5+16*len(sl.Terms)), 3*len(sl.Terms))
	for _, td := range sl.Terms {
		k := bucketKey{td.Scope, td.Bucket}
		n, ok := termKeys[k]
		if !ok {
			keys = append(keys, termsKey(sl.Tenant, td.Scope, td.Bucket))
			n = len(termKeys) + 1
			termKeys[k] = n
		}
		terms = appendInt(appendString(appendInt(terms, int64(n)), td.Term), td.N)
	}
	args := make([]any, 0, 16+4*len(sl.Ranges)+len(scopes)+len(sl.Letters)+
		8*len(sl.Customers)+2*len(sl.Codes)+2*len(samples))
	args = append(args, now, s.horizon.Milliseconds(), s.windowsCSV, len(sl.Ranges))
	for _, r := range sl.Ranges {
		args = append(args, r.Partition, r.Epoch, r.Start, r.End)
	}
	args = append(args, len(scopes))
	for _, sc := range scopes {
		args = append(args, sc)
	}
	ids := appendArray(make([]byte, 0, 5+24*len(sl.IDs)), len(sl.IDs))
	expects := appendArray(make([]byte, 0, 5+2*len(sl.IDs)), len(sl.IDs))
	for _, c := range sl.IDs {
		ids = appendString(ids, c.ID)
		expects = appendInt(expects, c.Expect) // NewEvent is -1
	}
	recs := appendArray(make([]byte, 0, 5+160*len(sl.Records)), 2*len(sl.Records))
	var buf []byte
	for i := range sl.Records {
		buf = sl.Records[i].appendTo(buf[:0])
		recs = appendString(appendString(recs, sl.Records[i].ID), buf)
	}
	args = append(args, ids, expects, recs)
	args = append(args, s.deltasBlob(sl.Deltas, scopeIndex))
	args = append(args, len(sl.Letters))
	for i := range sl.Letters {
		b, err := json.Marshal(&sl.Letters[i])
		if err != nil {
			return Result{}, fmt.Errorf("encoding dead letter: %w", err)
		}
		args = append(args, b)
	}
	args = append(args, customersBlob(sl.Customers, scopeIndex))
	args = append(args, len(sl.Codes))
	for code, referrer := range sl.Codes {
		args = append(args, code, referrer)
	}
	args = append(args, terms)
	args = append(args, len(samples))
	for _, smp := range samples {
		b, err := json.Marshal(smp)
		if err != nil {
			return Result{}, fmt.Errorf("encoding a comment sample: %w", err)
		}
		args = append(args, scopeIndex[smp.Scope], b)
	}
	raw, err := s.apply.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return Result{}, fmt.Errorf("applying slice of tenant %s: %w", sl.Tenant, err)
	}
	if len(raw) > 0 && raw[0] == "ok" {
		views, err := parseTotals(raw, 1)
		return Result{Outcome: Applied, Views: views}, err
	}
	res := make([]string, len(raw))
	for i, v := range raw {
		res[i] = fmt.Sprint(v)
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
	case "conflict":
		return parseConflicts(res)
	}
	return Result{}, fmt.Errorf("apply script answered %q", res)
}

// parseConflicts reads a conflict answer: 'conflict', the number of ids
// and (id, record) pairs, the number of customers and (id, record) pairs.
func parseConflicts(res []string) (Result, error) {
	out := Result{Outcome: Conflict, Conflicts: map[string]*Record{}, CustomerConflicts: map[string]*CustomerRecord{}}
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
		r, err := decodeRecord(id, rec)
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
		r, err := parseCustomerRecord(id, rec)
		out.CustomerConflicts[id] = r
		return err
	})
	if err != nil {
		return Result{}, err
	}
	return out, nil
}

func parseCustomerRecord(id, s string) (*CustomerRecord, error) {
	v, data, ok := strings.Cut(s, "|")
	n, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil {
		return nil, fmt.Errorf("record of customer %q is corrupt", id)
	}
	return &CustomerRecord{Version: n, Data: []byte(data)}, nil
}

// Customers returns the stored records of the given customers of a tenant;
// a customer without one is absent from the map.
func (s *Store) Customers(ctx context.Context, tenant string, ids []string) (map[string]*CustomerRecord, error) {
	out := make(map[string]*CustomerRecord, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	vals, err := s.rdb.HMGet(ctx, customersKey(tenant), ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("reading customers of %s: %w", tenant, err)
	}
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		rec, err := parseCustomerRecord(ids[i], str)
		if err != nil {
			return nil, err
		}
		out[ids[i]] = rec
	}
	return out, nil
}

// DueCustomers returns up to limit customers of a tenant whose records must
// be looked at by now (an inactivity loss or history to forget is due).
func (s *Store) DueCustomers(ctx context.Context, tenant string, now time.Time, limit int) ([]string, error) {
	ids, err := s.rdb.ZRangeByScore(ctx, customersDueKey(tenant), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("reading due customers of %s: %w", tenant, err)
	}
	return ids, nil
}

// Sweep drops the buckets that left their windows by now, for one tenant,
// at most limit at a time, and rewrites the views of the scopes it changed;
// it returns how many buckets it dropped.
func (s *Store) Sweep(ctx context.Context, tenant string, now time.Time, limit int) (int, error) {
	members, err := s.rdb.ZRangeByScore(ctx, expiryKey(tenant), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(limit),
	}).Result()
	if err != nil || len(members) == 0 {
		return 0, err
	}
	var scopes []string
	seen := map[string]bool{}
	for _, m := range members {
		sc, _, _ := strings.Cut(m, "\t")
		if !seen[sc] {
			seen[sc] = true
			scopes = append(scopes, sc)
		}
	}
	keys := []string{watermarksKey(tenant), expiryKey(tenant), dirtyKey(tenant), pendingKey(tenant)}
	args := []any{now.UnixMilli(), s.windowsCSV, len(scopes)}
	for _, sc := range scopes {
		keys = append(keys, countersKey(tenant, sc), activeKey(tenant, sc))
		args = append(args, sc)
	}
	for _, m := range members {
		args = append(args, m)
	}
	raw, err := s.sweep.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return 0, fmt.Errorf("sweeping tenant %s: %w", tenant, err)
	}
	n64, _ := raw[0].(int64)
	n := int(n64)
	views, err := parseTotals(raw, 1)
	if err != nil {
		return n, err
	}
	if err := s.WriteViews(ctx, tenant, now, views); err != nil {
		return n, err
	}
	// Forget id periods older than the previous one.
	period := now.UnixMilli() / s.horizon.Milliseconds()
	for p := period - 2; p > period-5; p-- {
		if err := s.rdb.Del(ctx, idsKey(tenant, p)).Err(); err != nil {
			return n, fmt.Errorf("forgetting ids of tenant %s: %w", tenant, err)
		}
	}
	return n, nil
}

// View returns the public view hash of one scope.
func (s *Store) View(ctx context.Context, tenant, scope string) (map[string]string, error) {
	return s.rdb.HGetAll(ctx, ViewKey(tenant, scope)).Result()
}

// PruneConversions drops the referral conversions that began before the
// given instant (unix ms): no window holds them any more.
func (s *Store) PruneConversions(ctx context.Context, tenant string, before int64) error {
	if err := s.rdb.ZRemRangeByScore(ctx, conversionsKey(tenant), "-inf", "("+strconv.FormatInt(before, 10)).Err(); err != nil {
		return fmt.Errorf("pruning conversions of %s: %w", tenant, err)
	}
	return nil
}

// Advocate is a referrer and the conversions credited to them.
type Advocate struct {
	ReferrerID  string `json:"referrer_id"`
	Conversions int64  `json:"conversions"`
}

// UnknownReferrer stands for the referrer of a code whose referral.sent
// was never seen.
const UnknownReferrer = "unknown"

// Advocates returns the referrers of a tenant ranked by the referral
// conversions (first purchases carrying their code) whose purchase is at
// or after since (unix ms), most first; ties by referrer id.
func (s *Store) Advocates(ctx context.Context, tenant string, since int64) ([]Advocate, error) {
	members, err := s.rdb.ZRangeByScore(ctx, conversionsKey(tenant), &redis.ZRangeBy{
		Min: strconv.FormatInt(since, 10), Max: "+inf",
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("reading conversions of %s: %w", tenant, err)
	}
	perCode := map[string]int64{}
	var codes []string
	for _, m := range members {
		_, code, _ := strings.Cut(m, "\t")
		if perCode[code] == 0 {
			codes = append(codes, code)
		}
		perCode[code]++
	}
	byReferrer := map[string]int64{}
	if len(codes) > 0 {
		refs, err := s.rdb.HMGet(ctx, codesKey(tenant), codes...).Result()
		if err != nil {
			return nil, fmt.Errorf("reading referral codes of %s: %w", tenant, err)
		}
		for i, code := range codes {
			r, ok := refs[i].(string)
			if !ok {
				r = UnknownReferrer
			}
			byReferrer[r] += perCode[code]
		}
	}
	out := make([]Advocate, 0, len(byReferrer))
	for r, n := range byReferrer {
		out = append(out, Advocate{ReferrerID: r, Conversions: n})
	}
	slices.SortFunc(out, func(a, b Advocate) int {
		if a.Conversions != b.Conversions {
			return cmp.Compare(b.Conversions, a.Conversions)
		}
		return cmp.Compare(a.ReferrerID, b.ReferrerID)
	})
	return out, nil
}

// SweepThemes deletes the theme buckets of a tenant whose time is up:
// every scope's hour buckets that ended more than ThemeHourKept ago and
// day buckets more than ThemeDayKept ago, from where the last sweep
// stopped (recorded in the watermarks hash).
func (s *Store) SweepThemes(ctx context.Context, tenant string, now time.Time) error {
	marks, err := s.rdb.HMGet(ctx, watermarksKey(tenant), "themes:h", "themes:d").Result()
	if err != nil {
		return fmt.Errorf("reading theme sweep marks of %s: %w", tenant, err)
	}
	type unit struct {
		prefix, mark string
		size, kept   time.Duration
		done         any
	}
	units := []unit{{"h", "themes:h", time.Hour, ThemeHourKept, marks[0]}, {"d", "themes:d", 24 * time.Hour, ThemeDayKept, marks[1]}}
	var scopes []string
	for _, u := range units {
		// Buckets up to `last` are due: they ended `kept` ago.
		last := now.Add(-u.kept).UnixMilli()/u.size.Milliseconds() - 1
		from := last - 2*int64(u.kept/u.size) // a first sweep looks back this far
		if done, ok := u.done.(string); ok {
			n, _ := strconv.ParseInt(done, 10, 64)
			from = max(n+1, last-40*24*int64(time.Hour/u.size)) // bounded after a long outage
		}
		if from > last {
			continue
		}
		if scopes == nil {
			if scopes, err = s.Scopes(ctx, tenant); err != nil {
				return err
			}
		}
		pipe := s.rdb.Pipeline()
		for b := from; b <= last; b++ {
			for _, sc := range scopes {
				pipe.Del(ctx, termsKey(tenant, sc, u.prefix+strconv.FormatInt(b, 10)))
			}
			if pipe.Len() > 1000 {
				if _, err := pipe.Exec(ctx); err != nil {
					return fmt.Errorf("dropping theme buckets of %s: %w", tenant, err)
				}
			}
		}
		pipe.HSet(ctx, watermarksKey(tenant), u.mark, last)
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("dropping theme buckets of %s: %w", tenant, err)
		}
	}
	return nil
}

// TermCounts sums the theme term counts of the given buckets ("h<hour>"
// or "d<day>") of one scope.
func (s *Store) TermCounts(ctx context.Context, tenant, scope string, buckets []string) (map[string]int64, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(buckets))
	for i, b := range buckets {
		cmds[i] = pipe.HGetAll(ctx, termsKey(tenant, scope, b))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading theme terms of %s %s: %w", tenant, scope, err)
	}
	out := map[string]int64{}
	for _, c := range cmds {
		for term, v := range c.Val() {
			n, _ := strconv.ParseInt(v, 10, 64)
			out[term] += n
		}
	}
	return out, nil
}

// Samples returns the recent detractor comments of a scope, newest first.
func (s *Store) Samples(ctx context.Context, tenant, scope string) ([]Sample, error) {
	raw, err := s.rdb.LRange(ctx, samplesKey(tenant, scope), 0, SamplesKept-1).Result()
	if err != nil {
		return nil, fmt.Errorf("reading comment samples of %s %s: %w", tenant, scope, err)
	}
	out := make([]Sample, 0, len(raw))
	for _, r := range raw {
		var smp Sample
		if err := json.Unmarshal([]byte(r), &smp); err == nil {
			out = append(out, smp)
		}
	}
	return out, nil
}
