// Package store keeps cxpulse's state in Redis: per tenant the bucketed
// counters and running totals of every scope and window, the public view,
// the remembered event ids, the partition watermarks and the dirty-scope
// outbox, all under the tenant's hash tag so one script updates them
// atomically on a single Redis or a Cluster. Deciding what to apply is left
// to the aggregator; this package applies it exactly once.
package store

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/pkg/window"
)

var (
	//go:embed scripts.lua
	sharedLua string
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
}

// New returns a Store over rdb for the given windows and dedupe horizon.
func New(rdb redis.UniversalClient, windows []window.Window, horizon time.Duration) *Store {
	names := make([]string, len(windows))
	for i, w := range windows {
		names[i] = w.Name
	}
	return &Store{
		rdb: rdb, windows: windows, windowsCSV: strings.Join(names, ","), horizon: horizon,
		apply:     redis.NewScript(sharedLua + applyLua),
		sweep:     redis.NewScript(sharedLua + sweepLua),
		admit:     redis.NewScript(admitLua),
		commit:    redis.NewScript(commitLua),
		undirty:   redis.NewScript(undirtyLua),
		writeView: redis.NewScript(sharedLua + writeViewLua),
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
}

func (r *Record) encode() string {
	return strings.Join([]string{
		strconv.FormatInt(r.Revision, 10),
		strconv.FormatInt(r.Arrival.UnixMilli(), 10),
		strconv.FormatInt(r.OccurredAt.UnixMilli(), 10),
		r.Type,
		strings.Join(r.Scopes, ";"),
		r.Counters.sparse(),
		r.CustomerID,
	}, "|")
}

func decodeRecord(id, s string) (*Record, error) {
	parts := strings.SplitN(s, "|", 7)
	if len(parts) != 7 {
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
	return &Record{ID: id, Revision: rev, Arrival: time.UnixMilli(arr), OccurredAt: time.UnixMilli(occ),
		Type: parts[3], Scopes: scopes, Counters: c, CustomerID: parts[6]}, nil
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
}

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
	// Views holds, when Applied, the new totals of every scope the slice
	// changed: pass them to WriteViews.
	Views []ScopeTotals
}

// Apply runs the apply script for one slice.
func (s *Store) Apply(ctx context.Context, sl *Slice) (Result, error) {
	now := sl.Now.UnixMilli()
	period := now / s.horizon.Milliseconds()
	scopeIndex := map[string]int{}
	var scopes []string
	for _, d := range sl.Deltas {
		if _, ok := scopeIndex[d.Scope]; !ok {
			scopes = append(scopes, d.Scope)
			scopeIndex[d.Scope] = len(scopes)
		}
	}
	keys := make([]string, 0, 8+len(scopes))
	keys = append(keys, watermarksKey(sl.Tenant), idsKey(sl.Tenant, period), idsKey(sl.Tenant, period-1),
		expiryKey(sl.Tenant), dirtyKey(sl.Tenant), ScopesKey(sl.Tenant), outboxKey(sl.Tenant), pendingKey(sl.Tenant))
	for _, sc := range scopes {
		keys = append(keys, countersKey(sl.Tenant, sc))
	}
	args := make([]any, 0, 10+4*len(sl.Ranges)+len(scopes)+2*len(sl.IDs)+2*len(sl.Records)+5*len(sl.Deltas)+len(sl.Letters))
	args = append(args, now, s.horizon.Milliseconds(), s.windowsCSV, len(sl.Ranges))
	for _, r := range sl.Ranges {
		args = append(args, r.Partition, r.Epoch, r.Start, r.End)
	}
	args = append(args, len(scopes))
	for _, sc := range scopes {
		args = append(args, sc)
	}
	args = append(args, len(sl.IDs))
	for _, c := range sl.IDs {
		exp := "-"
		if c.Expect != NewEvent {
			exp = strconv.FormatInt(c.Expect, 10)
		}
		args = append(args, c.ID, exp)
	}
	args = append(args, len(sl.Records))
	for i := range sl.Records {
		args = append(args, sl.Records[i].ID, sl.Records[i].encode())
	}
	args = append(args, len(sl.Deltas))
	for i := range sl.Deltas {
		d := &sl.Deltas[i]
		w := s.windows[d.Window]
		args = append(args, scopeIndex[d.Scope], w.Name, d.Bucket, w.Leaves(d.Bucket).UnixMilli(), string(d.Counters.msgpack(nil)))
	}
	args = append(args, len(sl.Letters))
	for i := range sl.Letters {
		b, err := json.Marshal(&sl.Letters[i])
		if err != nil {
			return Result{}, fmt.Errorf("encoding dead letter: %w", err)
		}
		args = append(args, b)
	}
	raw, err := s.apply.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return Result{}, fmt.Errorf("applying slice of tenant %s: %w", sl.Tenant, err)
	}
	res := make([]string, len(raw))
	for i, v := range raw {
		res[i] = fmt.Sprint(v)
	}
	switch res[0] {
	case "ok":
		views, err := parseTotals(raw, 1)
		return Result{Outcome: Applied, Views: views}, err
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
		out := Result{Outcome: Conflict, Conflicts: map[string]*Record{}}
		for i := 1; i+1 < len(res); i += 2 {
			if res[i+1] == "" {
				out.Conflicts[res[i]] = nil
				continue
			}
			rec, err := decodeRecord(res[i], res[i+1])
			if err != nil {
				return Result{}, err
			}
			out.Conflicts[res[i]] = rec
		}
		return out, nil
	}
	return Result{}, fmt.Errorf("apply script answered %q", res)
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
		keys = append(keys, countersKey(tenant, sc))
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
