// Package scopes turns an event's dims into the names of the scopes it
// counts in ("all", "store=42", "channel=web,region=eu"), admitting each
// tenant's dimension values, and combinations of them, in Redis up to the
// per-dimension cap and sending the rest to __other__. Counting is left to
// the pipeline.
package scopes

import (
	"context"
	"slices"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/cxpulse/cxpulse/internal/store"
)

// Other is the value a dimension takes in scope names once a tenant has
// CXPULSE_MAX_SCOPES_PER_DIM distinct values of it.
const Other = "__other__"

// CacheSize bounds the decided names an instance remembers (about 200
// bytes each); a name forgotten is asked of Redis again, which answers as
// before.
const CacheSize = 100_000

// MaxCombos bounds CXPULSE_SCOPE_COMBOS.
const MaxCombos = 8

// Scoper turns an event's dims into the names of its scopes: "all", one
// per configured dimension ("store=42") and one per combination
// ("channel=web,region=eu", dims sorted). A value, or a combination of
// values, gets a scope of its own while the tenant has fewer than the cap
// of that dimension or combination; the answer never changes once Redis
// gave it, so the decided names are cached (least recently used first out).
type Scoper struct {
	dims   []string
	combos [][]string
	limit  int
	store  *store.Store
	// cache: tenant \x00 dim (or "d1+d2" for a combination) \x00 value
	// (the combination's scope name) → the scope name it counts under.
	cache *lru.Cache[string, string]
}

// New returns a Scoper of the configured dimensions and combinations.
func New(dims, combos []string, limit int, st *store.Store) *Scoper {
	cache, err := lru.New[string, string](CacheSize)
	if err != nil {
		panic(err) // only for a size below 1
	}
	sc := &Scoper{dims: dims, limit: limit, store: st, cache: cache}
	for _, c := range combos {
		parts := strings.Split(c, "+")
		slices.Sort(parts)
		sc.combos = append(sc.combos, parts)
	}
	return sc
}

// Names are the scope names decided for one batch of a tenant.
type Names struct {
	sc     *Scoper
	byDim  map[string]map[string]string // dim → value → name
	combos map[string]string            // combination name → the name it counts under
}

func cacheKey(tenant, dim, value string) string { return tenant + "\x00" + dim + "\x00" + value }

// Resolve decides the scope names of every event of a tenant with these
// dims, asking Redis for the ones not cached.
func (sc *Scoper) Resolve(ctx context.Context, tenant string, all []map[string]string) (*Names, error) {
	n := &Names{sc: sc, byDim: map[string]map[string]string{}, combos: map[string]string{}}
	missing := map[string][]string{}
	for _, dims := range all {
		for _, d := range sc.dims {
			v, ok := dims[d]
			if !ok {
				continue
			}
			if n.byDim[d] == nil {
				n.byDim[d] = map[string]string{}
			}
			if _, done := n.byDim[d][v]; done {
				continue
			}
			if name, ok := sc.cache.Get(cacheKey(tenant, d, v)); ok {
				n.byDim[d][v] = name
			} else if !slices.Contains(missing[d], v) {
				missing[d] = append(missing[d], v)
			}
		}
	}
	err := sc.admit(ctx, tenant, missing, func(d, v string, own bool) {
		name := d + "=" + Other
		if own {
			name = d + "=" + v
		}
		n.byDim[d][v] = name
		sc.cache.Add(cacheKey(tenant, d, v), name)
	})
	if err != nil || len(sc.combos) == 0 {
		return n, err
	}
	missing = map[string][]string{}
	for _, dims := range all {
		for _, combo := range sc.combos {
			name, ok := n.combo(combo, dims)
			if !ok {
				continue
			}
			key := strings.Join(combo, "+")
			if _, done := n.combos[name]; done {
				continue
			}
			if under, ok := sc.cache.Get(cacheKey(tenant, key, name)); ok {
				n.combos[name] = under
			} else if !slices.Contains(missing[key], name) {
				missing[key] = append(missing[key], name)
			}
		}
	}
	return n, sc.admit(ctx, tenant, missing, func(key, name string, own bool) {
		under := name
		if !own {
			parts := strings.Split(key, "+")
			for i, d := range parts {
				parts[i] = d + "=" + Other
			}
			under = strings.Join(parts, ",")
		}
		n.combos[name] = under
		sc.cache.Add(cacheKey(tenant, key, name), under)
	})
}

// admit asks Redis which values of each dimension (or combination) get a
// scope of their own, and tells decided of each answer.
func (sc *Scoper) admit(ctx context.Context, tenant string, missing map[string][]string, decided func(dim, value string, own bool)) error {
	for d, values := range missing {
		ok, err := sc.store.Admit(ctx, tenant, d, values, sc.limit)
		if err != nil {
			return err
		}
		for i, v := range values {
			decided(d, v, ok[i])
		}
	}
	return nil
}

// combo returns the name of a combination's scope from its dims' names,
// false when the event lacks one of them.
func (n *Names) combo(combo []string, dims map[string]string) (string, bool) {
	parts := make([]string, 0, len(combo))
	for _, d := range combo {
		v, ok := dims[d]
		if !ok {
			return "", false
		}
		parts = append(parts, n.byDim[d][v])
	}
	return strings.Join(parts, ","), true
}

// Scopes returns the scope names of an event with these dims, which must
// be among those Resolve was given.
func (n *Names) Scopes(dims map[string]string) []string {
	sc := n.sc
	out := make([]string, 1, 1+len(sc.dims)+len(sc.combos))
	out[0] = "all"
	for _, d := range sc.dims {
		if v, ok := dims[d]; ok {
			out = append(out, n.byDim[d][v])
		}
	}
	for _, combo := range sc.combos {
		if name, ok := n.combo(combo, dims); ok {
			out = append(out, n.combos[name])
		}
	}
	return out
}
