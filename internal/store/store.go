// Package store keeps cxpulse's state in Redis and owns its protocol: per
// tenant the bucketed counters and running totals of every scope and
// window, the public view, the remembered event ids, the partition
// watermarks, the customer records and the outbox, all under the tenant's
// hash tag so one script updates them atomically on a single Redis or a
// Cluster. Deciding what to apply is left to the pipeline; this package
// applies it exactly once and keeps the views in step.
package store

import (
	_ "embed"
	"fmt"
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
)

// luaConstants declares, for every script, the constants that mirror Go:
// they are generated here so the two cannot drift.
func luaConstants() string {
	return fmt.Sprintf("local NC = %d -- counters per bucket, in the order of stats.Counter\n"+
		"local SAMPLES_KEPT = %d -- recent detractor comments kept per scope\n", stats.NumCounters, SamplesKept)
}

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
		undirty:     redis.NewScript(undirtyLua),
		writeView:   redis.NewScript(sharedLua + writeViewLua),
		views:       map[string]*writtenView{},
		pendingSeen: map[string]map[string]string{},
		fields:      statFields(windows),
	}
}

// Windows returns the configured windows, shortest first.
func (s *Store) Windows() []window.Window { return s.windows }
