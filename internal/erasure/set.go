package erasure

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// Set is what an instance knows of each tenant's erasures: which customers
// (by keyed hash) were erased and up to when their events are covered. An
// event of an erased customer that occurred at or before the erasure (or
// its covers_until, when it retracted events dated ahead) is dropped
// wherever events enter (aggregator, import, replay, rebuild); a later one
// counts. A field followed by "#" keeps an earlier receipt of a customer
// erased again.
type Set struct {
	st  *store.Store
	rdb redis.UniversalClient
	key string // CXPULSE_ERASURE_KEY; "" for the key kept in Redis
	mu  sync.Mutex
	// hasher is loaded at first use (the key may live in Redis).
	hasher *Hasher
	byTen  map[string]*tenantSet
}

type tenantSet struct {
	count int64
	at    map[string]time.Time // keyed hash → covers_until
	raw   map[string]string    // keyed hash → receipt, as stored
}

// NewSet returns a Set reading st over rdb, naming customers by a keyed
// hash under key (CXPULSE_ERASURE_KEY; "" for a key kept in Redis).
func NewSet(st *store.Store, rdb redis.UniversalClient, key string) *Set {
	return &Set{st: st, rdb: rdb, key: key, byTen: map[string]*tenantSet{}}
}

// Hasher returns the set's hasher, loading its key at first use.
func (s *Set) Hasher(ctx context.Context) (*Hasher, error) {
	s.mu.Lock()
	h := s.hasher
	s.mu.Unlock()
	if h != nil {
		return h, nil
	}
	h, err := LoadHasher(ctx, s.rdb, s.key)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.hasher = h
	s.mu.Unlock()
	return h, nil
}

// Load reads a tenant's erasures from Redis and returns how many there
// are. Erasures this set knew and Redis no longer holds (it lost its
// state) are put back first: an erasure is never forgotten while an
// instance remembers it (one that starts anew restores them from
// cx.erasures, Log.Restore).
func (s *Set) Load(ctx context.Context, tenant string) (int64, error) {
	h, err := s.Hasher(ctx)
	if err != nil {
		return 0, err
	}
	m, err := s.st.Erasures(ctx, tenant)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	old := s.byTen[tenant]
	s.mu.Unlock()
	if old != nil {
		if err := h.keep(ctx, s.rdb); err != nil {
			return 0, err
		}
		lost := map[string]string{}
		for field, rec := range old.raw {
			if _, ok := m[field]; !ok {
				lost[field] = rec
			}
		}
		if len(lost) > 0 {
			if err := s.st.RestoreErasures(ctx, tenant, lost); err != nil {
				return 0, err
			}
			return s.Load(ctx, tenant)
		}
	}
	ts := &tenantSet{count: int64(len(m)), at: make(map[string]time.Time, len(m)), raw: m}
	for field, rec := range m {
		r, err := parseStored(rec)
		if err != nil {
			return 0, err
		}
		ts.at[field] = r.CoversUntil
	}
	s.mu.Lock()
	s.byTen[tenant] = ts
	s.mu.Unlock()
	return ts.count, nil
}

// Count returns how many erasures of tenant the set knows, loading them
// when it knows none yet.
func (s *Set) Count(ctx context.Context, tenant string) (int64, error) {
	s.mu.Lock()
	ts, ok := s.byTen[tenant]
	s.mu.Unlock()
	if ok {
		return ts.count, nil
	}
	return s.Load(ctx, tenant)
}

// Erased reports whether an event of customer of tenant that occurred at
// at is covered by an erasure (customer "" never is). Count or Load must
// have read the tenant.
func (s *Set) Erased(tenant, customer string, at time.Time) bool {
	if customer == "" {
		return false
	}
	s.mu.Lock()
	ts, h := s.byTen[tenant], s.hasher
	s.mu.Unlock()
	if ts == nil || ts.count == 0 {
		return false
	}
	when, ok := ts.at[h.Hash(tenant, customer)]
	return ok && !at.After(when)
}

// Covers reports whether ev belongs to an erasure: its customer was
// erased at or after it occurred. It reads the tenant's erasures the first
// time.
func (s *Set) Covers(ctx context.Context, ev *events.Event) (bool, error) {
	if ev.CustomerID == "" {
		return false, nil
	}
	if _, err := s.Count(ctx, ev.Tenant); err != nil {
		return false, err
	}
	return s.Erased(ev.Tenant, ev.CustomerID, ev.OccurredAt), nil
}
