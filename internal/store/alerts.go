package store

import (
	"context"
	"fmt"
)

func alertsKey(tenant string) string { return tenantKey(tenant, "alerts") }

// ScopeCounters returns the counters hash of one scope as stored: fields
// "<window>:<bucket>" and "<window>:t" (packed counters, see
// UnpackCounters) and "v".
func (s *Store) ScopeCounters(ctx context.Context, tenant, scope string) (map[string]string, error) {
	h, err := s.rdb.HGetAll(ctx, countersKey(tenant, scope)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading counters of %s %s: %w", tenant, scope, err)
	}
	return h, nil
}

// UnpackCounters reads one packed counters value of ScopeCounters.
func UnpackCounters(packed string) (Counters, error) { return unpackCounters([]byte(packed)) }

// AlertStates returns a tenant's alert states by fingerprint, as stored.
func (s *Store) AlertStates(ctx context.Context, tenant string) (map[string]string, error) {
	h, err := s.rdb.HGetAll(ctx, alertsKey(tenant)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading alerts of %s: %w", tenant, err)
	}
	return h, nil
}

// SaveAlertStates writes changed alert states and forgets others. Only
// the instance holding the publisher lease evaluates alerts, so plain
// writes suffice.
func (s *Store) SaveAlertStates(ctx context.Context, tenant string, set map[string][]byte, del []string) error {
	pipe := s.rdb.TxPipeline()
	if len(set) > 0 {
		pairs := make([]any, 0, 2*len(set))
		for k, v := range set {
			pairs = append(pairs, k, v)
		}
		pipe.HSet(ctx, alertsKey(tenant), pairs...)
	}
	if len(del) > 0 {
		pipe.HDel(ctx, alertsKey(tenant), del...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("writing alerts of %s: %w", tenant, err)
	}
	return nil
}
