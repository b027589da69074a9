// Package store keeps cxpulse's state in Redis and owns its protocol: per
// tenant the bucketed counters and running totals of every scope and
// window, the public view, the remembered event ids, the partition
// watermarks, the customer records and the outbox, all under the tenant's
// hash tag so one script updates them atomically on a single Redis or a
// Cluster. Deciding what to apply is left to the pipeline; this package
// applies it exactly once and keeps the views in step.
package store

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/pkg/window"
)

var (
	//go:embed msgpack.lua
	msgpackLua string
	//go:embed scripts.lua
	scriptsLua string
	//go:embed apply.lua
	applyLua string
	//go:embed sweep.lua
	sweepLua string
	//go:embed writeview.lua
	writeViewLua string
	//go:embed roll.lua
	rollLua string
)

// luaConstants declares, for every script, the constants that mirror Go:
// they are generated here so the two cannot drift.
func luaConstants() string {
	return fmt.Sprintf("local NC = %d -- counters per bucket, in the order of stats.Counter\n"+
		"local SAMPLES_KEPT = %d -- recent detractor comments kept per scope\n"+
		"local TERMS_KEPT = %d -- theme terms kept per scope and bucket\n"+
		"local OUTBOX_CAP = %d -- dead letters a tenant's outbox holds\n", stats.NumCounters, SamplesKept, TermsKept, OutboxCap)
}

// TermsKept bounds the theme terms of one scope's hour or day bucket.
const TermsKept = 1000

// OutboxCap bounds a tenant's outbox of dead letters waiting to be
// published; while it is full, slices that would add to it wait.
const OutboxCap = 100_000

// sharedLua is what every script that packs counters starts with.
var sharedLua = luaConstants() + msgpackLua + scriptsLua

// Store applies slices, sweeps windows and answers the queries of the read
// side.
type Store struct {
	rdb        redis.UniversalClient
	windows    []window.Window
	windowsCSV string
	horizon    time.Duration
	apply      *redis.Script
	sweep      *redis.Script
	admit      *redis.Script
	undirty    *redis.Script
	writeView  *redis.Script
	roll       *redis.Script

	sections []section  // the view's parts: windows, then to-date periods
	fields   [][]string // per section, the view fields of its stats
	viewsMu  sync.Mutex
	views    map[string]*writtenView // tenant \x00 scope → what this instance last wrote
	// writer names this Store's view writes: a view is written as a
	// change to what this Store last wrote only while it is still that
	// write (another writer's, or a rebuild that started versions again,
	// makes the next write a full one).
	writer string
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
		undirty:     redis.NewScript(undirtyLua),
		writeView:   redis.NewScript(sharedLua + writeViewLua),
		roll:        redis.NewScript(sharedLua + rollLua),
		views:       map[string]*writtenView{},
		writer:      randomWriter(),
		pendingSeen: map[string]map[string]string{},
		sections:    viewSections(windows),
		fields:      statFields(viewSections(windows)),
	}
}

// randomWriter returns a name for a Store's view writes.
func randomWriter() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail on Linux
	return hex.EncodeToString(b[:])
}

// Windows returns the configured windows, shortest first.
func (s *Store) Windows() []window.Window { return s.windows }

// The key schema (docs/redis.md). Every key of a tenant carries the hash
// tag {<tenant>}, so one script can touch all of them on a single Redis or
// a Cluster.

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

// ScopesKey is the set of scopes a tenant has data in.
func ScopesKey(tenant string) string { return tenantKey(tenant, "scopes") }

func countersKey(tenant, scope string) string { return tenantKey(tenant, "s", scope) }

// WatermarksKey is a tenant's watermarks hash (per partition the next
// offset applied, the sweep marks, and "reset" while it is rebuilt).
func WatermarksKey(tenant string) string { return watermarksKey(tenant) }

// TenantPattern matches every key of a tenant (SCAN MATCH).
func TenantPattern(tenant string) string { return prefix + "{" + tenant + "}:*" }

// DimensionsPrefix starts the names of a tenant's sets of dimension values
// that have a scope of their own.
func DimensionsPrefix(tenant string) string { return tenantKey(tenant, "dim") + ":" }

// ReplayedKey is the set of dead letters (partition/offset of the
// dead-letter topic) a replay has re-produced to their topics.
func ReplayedKey() string { return prefix + "replayed" }

// ImportedKey is the set of events a tenant's history imports have sent
// (8 bytes of SHA-256 of each id and revision), so that importing a file
// again, at any later time, sends nothing twice.
func ImportedKey(tenant string) string   { return tenantKey(tenant, "imported") }
func watermarksKey(tenant string) string { return tenantKey(tenant, "wm") }
func expiryKey(tenant string) string     { return tenantKey(tenant, "exp") }
func dirtyKey(tenant string) string      { return tenantKey(tenant, "dirty") }

// OutboxKey is the list of a tenant's dead letters waiting for the
// publisher (package outbox reads it).
func OutboxKey(tenant string) string         { return tenantKey(tenant, "outbox") }
func pendingKey(tenant string) string        { return tenantKey(tenant, "vpend") }
func activeKey(tenant, scope string) string  { return tenantKey(tenant, "act", scope) }
func customersKey(tenant string) string      { return tenantKey(tenant, "cust") }
func customersDueKey(tenant string) string   { return tenantKey(tenant, "cdue") }
func conversionsKey(tenant string) string    { return tenantKey(tenant, "conv") }
func codesKey(tenant string) string          { return tenantKey(tenant, "codes") }
func samplesKey(tenant, scope string) string { return tenantKey(tenant, "samples", scope) }
func dimKey(tenant, dim string) string       { return tenantKey(tenant, "dim", dim) }
func termsKey(tenant, scope, bucket string) string {
	return tenantKey(tenant, "terms", scope, bucket)
}

// idsKey holds the ids remembered in one dedupe period (now / horizon).
func idsKey(tenant string, period int64) string {
	return tenantKey(tenant, "ids", strconv.FormatInt(period, 10))
}

// ConversionMember names a referral conversion in the tenant's
// conversions set.
func ConversionMember(customer, code string) string { return customer + "\t" + code }

// admitLua admits dimension values into a tenant's set until the cap is
// reached; a value's answer never changes once given, since the set only
// grows.
const admitLua = `
local cap = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV do
  local v = ARGV[i]
  if redis.call('SISMEMBER', KEYS[1], v) == 1 then
    out[#out + 1] = 1
  elseif redis.call('SCARD', KEYS[1]) < cap then
    redis.call('SADD', KEYS[1], v)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out`

// undirtyLua clears dirty scopes whose seq did not move since publishing.
const undirtyLua = `
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 0`

// Admit decides for each value of dimension dim whether it gets its own
// scope (true) or goes to <dim>=__other__ because the tenant already has
// limit values of dim.
func (s *Store) Admit(ctx context.Context, tenant, dim string, values []string, limit int) ([]bool, error) {
	args := make([]any, 0, len(values)+1)
	args = append(args, limit)
	for _, v := range values {
		args = append(args, v)
	}
	res, err := s.admit.Run(ctx, s.rdb, []string{dimKey(tenant, dim)}, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("admitting %s values of tenant %s: %w", dim, tenant, err)
	}
	out := make([]bool, len(res))
	for i, v := range res {
		out[i] = v == 1
	}
	return out, nil
}

// AddTenant records a tenant in the set the sweeper and publisher walk.
func (s *Store) AddTenant(ctx context.Context, tenant string) error {
	return s.rdb.SAdd(ctx, TenantsKey, tenant).Err()
}

// Tenants lists the tenants seen.
func (s *Store) Tenants(ctx context.Context) ([]string, error) {
	return s.rdb.SMembers(ctx, TenantsKey).Result()
}

// Dirty returns the scopes of a tenant changed since last published, with
// their seq.
func (s *Store) Dirty(ctx context.Context, tenant string) (map[string]string, error) {
	return s.rdb.HGetAll(ctx, dirtyKey(tenant)).Result()
}

// Undirty clears published scopes whose seq has not moved since.
func (s *Store) Undirty(ctx context.Context, tenant string, published map[string]string) error {
	if len(published) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(published))
	for sc, seq := range published {
		args = append(args, sc, seq)
	}
	return s.undirty.Run(ctx, s.rdb, []string{dirtyKey(tenant)}, args...).Err()
}

// Scopes lists the scopes a tenant has data in.
func (s *Store) Scopes(ctx context.Context, tenant string) ([]string, error) {
	return s.rdb.SMembers(ctx, ScopesKey(tenant)).Result()
}
