package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/cxpulse/cxpulse/internal/customers"
	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store"
)

// errUnsettled is returned for a slice whose ids or customers kept
// changing under it.
var errUnsettled = errors.New("slice did not settle")

// customerHorizon returns the customer-state durations of a tenant.
func (p *Pipeline) customerHorizon(tenant string) customers.Horizon {
	t, _ := p.tenants.Get(tenant)
	return customers.NewHorizon(p.largest, t.ChurnInactivity)
}

// ApplyDue looks again at customers of a tenant whose inactivity loss, or
// history to forget, is due by now, with no new event: the sweeper's part
// of the customer state.
func (p *Pipeline) ApplyDue(ctx context.Context, tenant string, due []string, now time.Time) error {
	_, err := p.applySlice(ctx, tenant, nil, nil, due, now)
	return err
}

// applySlice plans and applies one tenant slice: items over ranges, or
// (with no ranges) the customers due for a look with no new event. It
// returns the partition of a fenced claim, if any.
func (p *Pipeline) applySlice(ctx context.Context, tenant string, items []*item, ranges []store.Range, due []string, now time.Time) (string, error) {
	in := &planInput{windows: p.cfg.Windows, now: now, known: map[string]*dedupe.Record{}, horizon: p.customerHorizon(tenant), due: due}
	// Customer records come from the cache, else are read up front; the
	// script checks their versions either way.
	cached, missing := p.customers.get(tenant, append(historyCustomers(items), due...))
	in.customers = cached
	if len(missing) > 0 {
		read, err := p.store.Customers(ctx, tenant, missing)
		if err != nil {
			return "", err
		}
		fetched := make(map[string]*store.CustomerRecord, len(missing))
		for _, id := range missing {
			fetched[id] = read[id]
		}
		maps.Copy(in.customers, p.customers.putRecords(tenant, fetched))
	}
	for attempt := 0; attempt < 20; attempt++ {
		if len(ranges) == 0 && len(due) == 0 {
			return "", nil
		}
		pl, err := makePlan(in, items)
		if err != nil {
			return "", err
		}
		pl.slice.Tenant, pl.slice.Ranges, pl.slice.Now = tenant, ranges, now
		res, err := p.store.Apply(ctx, &pl.slice)
		if err != nil {
			return "", err
		}
		switch res.Outcome {
		case store.Applied:
			p.customers.put(tenant, pl.known)
			p.metrics.applied.Add(float64(pl.applied))
			p.metrics.revisions.Add(float64(pl.revisions))
			p.metrics.duplicates.Add(float64(pl.dups))
			for _, l := range pl.slice.Letters {
				p.metrics.deadLetters.WithLabelValues(l.Reason).Inc()
			}
			return "", nil
		case store.Fenced:
			return res.Partition, nil
		case store.Skipped:
			// Replayed ranges need not have the old bounds: keep what lies
			// at or above each partition's watermark.
			kept := items[:0:0]
			for _, it := range items {
				if wm, ok := res.Watermarks[it.partition]; !ok || it.msg.Offset >= wm {
					kept = append(kept, it)
				}
			}
			items = kept
			var left []store.Range
			for _, r := range ranges {
				if wm, ok := res.Watermarks[r.Partition]; ok {
					r.Start = max(r.Start, wm)
				}
				if r.Start < r.End {
					left = append(left, r)
				}
			}
			ranges = left
		case store.Conflict:
			maps.Copy(in.known, res.Conflicts)
			maps.Copy(in.customers, p.customers.putRecords(tenant, res.CustomerConflicts))
		}
	}
	return "", fmt.Errorf("applying a slice of tenant %s: %w", tenant, errUnsettled)
}

// historyCustomers returns the customers whose history items change.
func historyCustomers(items []*item) []string {
	var out []string
	seen := map[string]bool{}
	for _, it := range items {
		if stats.ShapesHistory(it.ev.Type) && !seen[it.ev.CustomerID] {
			seen[it.ev.CustomerID] = true
			out = append(out, it.ev.CustomerID)
		}
	}
	return out
}

// customerCache remembers the customer records this instance last wrote or
// read, with their decoded histories when this instance wrote them. A
// customer's events share a Kafka key, so they arrive on one partition and
// one instance: its cached record is almost always current, which saves
// reading it before planning. The apply script checks every record's
// version, so a stale entry costs a retry, never a wrong count.
type customerCache struct {
	mu      sync.Mutex
	max     int
	records map[string]*customers.Known // tenant + "\x00" + customer
}

func newCustomerCache(max int) *customerCache {
	return &customerCache{max: max, records: map[string]*customers.Known{}}
}

func cacheKey(tenant, id string) string { return tenant + "\x00" + id }

// get returns the cached records of ids and the ids not cached.
func (c *customerCache) get(tenant string, ids []string) (map[string]*customers.Known, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]*customers.Known, len(ids))
	var missing []string
	for _, id := range ids {
		if rec, ok := c.records[cacheKey(tenant, id)]; ok {
			out[id] = rec
		} else {
			missing = append(missing, id)
		}
	}
	return out, missing
}

// put caches what is known of customers.
func (c *customerCache) put(tenant string, records map[string]*customers.Known) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, rec := range records {
		c.records[cacheKey(tenant, id)] = rec
	}
	// Over the bound, drop arbitrary entries (map order is random).
	for k := range c.records {
		if len(c.records) <= c.max {
			break
		}
		delete(c.records, k)
	}
}

// putRecords caches records read from Redis (nil: the customer has no
// record).
func (c *customerCache) putRecords(tenant string, records map[string]*store.CustomerRecord) map[string]*customers.Known {
	known := make(map[string]*customers.Known, len(records))
	for id, rec := range records {
		if rec == nil {
			known[id] = customers.Absent()
		} else {
			known[id] = customers.Stored(rec.Version, rec.Data)
		}
	}
	c.put(tenant, known)
	return known
}
