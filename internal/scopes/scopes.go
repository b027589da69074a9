// Package scopes turns an event's dims into the names of the scopes it
// counts in ("all", "store=42", "channel=web,region=eu"), admitting each
// tenant's dimension values in Redis up to the per-dimension cap and
// sending the rest to <dim>=__other__. Counting is left to the pipeline.
package scopes

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/cxpulse/cxpulse/internal/store"
)

// Other is the value a dimension takes in scope names once a tenant has
// CXPULSE_MAX_SCOPES_PER_DIM distinct values of it.
const Other = "__other__"

// Scoper turns an event's dims into the names of its scopes: "all", one
// per configured dimension ("store=42") and one per combination
// ("channel=web,region=eu", dims sorted). It caches each tenant's admitted
// values; an answer never changes once Redis has given it.
type Scoper struct {
	dims   []string
	combos [][]string
	limit  int
	store  *store.Store

	mu sync.Mutex
	// names: tenant → dim → value → its scope name ("store=42", or
	// "store=__other__" when the value did not get a scope of its own).
	names map[string]map[string]map[string]string
}

// New returns a Scoper of the configured dimensions and combinations.
func New(dims, combos []string, limit int, st *store.Store) *Scoper {
	sc := &Scoper{dims: dims, limit: limit, store: st, names: map[string]map[string]map[string]string{}}
	for _, c := range combos {
		parts := strings.Split(c, "+")
		slices.Sort(parts)
		sc.combos = append(sc.combos, parts)
	}
	return sc
}

// Resolve makes sure every configured dim value of dims is decided for the
// tenant, asking Redis for the ones not cached.
func (sc *Scoper) Resolve(ctx context.Context, tenant string, all []map[string]string) error {
	missing := map[string][]string{}
	sc.mu.Lock()
	known := sc.names[tenant]
	if known == nil {
		known = map[string]map[string]string{}
		sc.names[tenant] = known
	}
	for _, dims := range all {
		for _, d := range sc.dims {
			v, ok := dims[d]
			if !ok {
				continue
			}
			if _, decided := known[d][v]; !decided && !slices.Contains(missing[d], v) {
				missing[d] = append(missing[d], v)
			}
		}
	}
	sc.mu.Unlock()
	for d, values := range missing {
		ok, err := sc.store.Admit(ctx, tenant, d, values, sc.limit)
		if err != nil {
			return err
		}
		sc.mu.Lock()
		if known[d] == nil {
			known[d] = map[string]string{}
		}
		for i, v := range values {
			if ok[i] {
				known[d][v] = d + "=" + v
			} else {
				known[d][v] = d + "=" + Other
			}
		}
		sc.mu.Unlock()
	}
	return nil
}

// Scopes returns the scope names of an event with these dims; resolve must
// have been called for them.
func (sc *Scoper) Scopes(tenant string, dims map[string]string) []string {
	out := make([]string, 1, 1+len(sc.dims)+len(sc.combos))
	out[0] = "all"
	sc.mu.Lock()
	known := sc.names[tenant]
	for _, d := range sc.dims {
		if v, ok := dims[d]; ok {
			out = append(out, known[d][v])
		}
	}
	for _, combo := range sc.combos {
		parts := make([]string, 0, len(combo))
		for _, d := range combo {
			v, ok := dims[d]
			if !ok {
				break
			}
			parts = append(parts, known[d][v])
		}
		if len(parts) == len(combo) {
			out = append(out, strings.Join(parts, ","))
		}
	}
	sc.mu.Unlock()
	return out
}
