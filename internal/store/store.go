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
	_ "embed"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/internal/store/query"
	"github.com/cxpulse/cxpulse/internal/store/views"
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

// Store applies slices and sweeps windows; its embedded Writer writes the
// views they change and its embedded Reader answers the queries of the
// read side.
type Store struct {
	*query.Reader
	*views.Writer
	rdb        redis.UniversalClient
	windows    []window.Window
	windowsCSV string
	horizon    time.Duration
	apply      *redis.Script
	sweep      *redis.Script
	admit      *redis.Script
	undirty    *redis.Script
	roll       *redis.Script
}

// New returns a Store over rdb for the given windows and dedupe horizon.
func New(rdb redis.UniversalClient, windows []window.Window, horizon time.Duration) *Store {
	names := make([]string, len(windows))
	for i, w := range windows {
		names[i] = fmt.Sprintf("%s:%d:%d", w.Name, w.Length.Milliseconds(), w.Bucket.Milliseconds())
	}
	return &Store{
		Reader: query.New(rdb),
		Writer: views.New(rdb, redis.NewScript(sharedLua+writeViewLua), windows),
		rdb:    rdb, windows: windows, windowsCSV: strings.Join(names, ","), horizon: horizon,
		apply:   redis.NewScript(sharedLua + applyLua),
		sweep:   redis.NewScript(sharedLua + sweepLua),
		admit:   redis.NewScript(admitLua),
		undirty: redis.NewScript(undirtyLua),
		roll:    redis.NewScript(sharedLua + rollLua),
	}
}

// Windows returns the configured windows, shortest first.
func (s *Store) Windows() []window.Window { return s.windows }

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
	res, err := s.admit.Run(ctx, s.rdb, []string{keys.Dim(tenant, dim)}, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("admitting %s values of tenant %s: %w", dim, tenant, err)
	}
	out := make([]bool, len(res))
	for i, v := range res {
		out[i] = v == 1
	}
	return out, nil
}

// WindowsField and LayoutField are the fields of a tenant's watermarks
// hash naming the windows its state is kept with (WindowNames) and the
// layout of its counters (stats.LayoutVersion).
const (
	WindowsField = "windows"
	LayoutField  = "layout"
)

// WindowNames names windows as WindowsField holds them: their names in
// order, comma-separated.
func WindowNames(windows []window.Window) string {
	names := make([]string, len(windows))
	for i, w := range windows {
		names[i] = w.Name
	}
	return strings.Join(names, ",")
}

// AddTenant records a tenant in the set the sweeper and publisher walk,
// and the windows its state is kept with from now on.
func (s *Store) AddTenant(ctx context.Context, tenant string) error {
	pipe := s.rdb.Pipeline()
	pipe.SAdd(ctx, keys.Tenants, tenant)
	pipe.HSet(ctx, keys.Watermarks(tenant), WindowsField, WindowNames(s.windows), LayoutField, stats.LayoutVersion)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("recording tenant %s: %w", tenant, err)
	}
	return nil
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
	return s.undirty.Run(ctx, s.rdb, []string{keys.Dirty(tenant)}, args...).Err()
}
