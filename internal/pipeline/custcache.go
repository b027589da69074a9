package pipeline

import (
	"sync"

	"github.com/cxpulse/cxpulse/internal/customers"
	"github.com/cxpulse/cxpulse/internal/store"
)

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
