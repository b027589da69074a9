package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Stats returns the stats (DESIGN §3) that the counters of one bucket
// decide on their own: every stat of the view except WholeWindowStats.
func Stats(c *Counters) map[string]float64 {
	stats := windowStats(c, 0, 0, nil)
	out := make(map[string]float64, len(stats))
	for _, st := range stats {
		if st.value != "" {
			v, _ := strconv.ParseFloat(st.value, 64)
			out[st.name] = v
		}
	}
	for _, name := range WholeWindowStats {
		delete(out, name)
	}
	return out
}

// WholeWindowStats are the stats that only mean something for a whole
// window: those that depend on the customers active now, and the distinct
// purchasers (a customer counts in the bucket of their latest purchase).
var WholeWindowStats = []string{"customers_active", "customers_at_start", "customers_retained", "customers_lost",
	"churn_rate", "retention_rate", "clv", "customers_purchasing", "repeat_purchase_rate"}

// WindowTotals returns the totals of one window for each of the scopes
// (absent: the scope has none), in one round trip.
func (s *Store) WindowTotals(ctx context.Context, tenant, window string, scopes []string) (map[string]Counters, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(scopes))
	for i, sc := range scopes {
		cmds[i] = pipe.HGet(ctx, countersKey(tenant, sc), window+":t")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading %s totals of %s: %w", window, tenant, err)
	}
	out := make(map[string]Counters, len(scopes))
	for i, c := range cmds {
		packed, err := c.Result()
		if err != nil {
			continue
		}
		if out[scopes[i]], err = unpackCounters([]byte(packed)); err != nil {
			return nil, fmt.Errorf("totals of %s %s: %w", tenant, scopes[i], err)
		}
	}
	return out, nil
}

// Buckets returns the counters of the given buckets of one window of one
// scope (absent: empty bucket).
func (s *Store) Buckets(ctx context.Context, tenant, scope, window string, buckets []int64) (map[int64]Counters, error) {
	fields := make([]string, len(buckets))
	for i, b := range buckets {
		fields[i] = window + ":" + strconv.FormatInt(b, 10)
	}
	vals, err := s.rdb.HMGet(ctx, countersKey(tenant, scope), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("reading %s buckets of %s %s: %w", window, tenant, scope, err)
	}
	out := make(map[int64]Counters, len(buckets))
	for i, v := range vals {
		packed, ok := v.(string)
		if !ok {
			continue
		}
		if out[buckets[i]], err = unpackCounters([]byte(packed)); err != nil {
			return nil, fmt.Errorf("bucket %s of %s %s: %w", fields[i], tenant, scope, err)
		}
	}
	return out, nil
}
