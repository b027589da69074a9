package aggregate

import (
	"sync"

	"github.com/cxpulse/cxpulse/internal/store"
)

// customerCache remembers the customer records this instance last wrote or
// read, with their decoded histories when this instance wrote them. A customer's events share a Kafka key, so they arrive on one
// partition and one instance: its cached record is almost always current,
// which saves reading it before planning. The apply script checks every
// record's version, so a stale entry costs a retry, never a wrong count.
type customerCache struct {
	mu      sync.Mutex
	max     int
	records map[string]*knownCustomer // tenant + "\x00" + customer
}

func newCustomerCache(max int) *customerCache {
	return &customerCache{max: max, records: map[string]*knownCustomer{}}
}

func cacheKey(tenant, id string) string { return tenant + "\x00" + id }

// get returns the cached records of ids and the ids not cached.
func (c *customerCache) get(tenant string, ids []string) (map[string]*knownCustomer, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]*knownCustomer, len(ids))
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
func (c *customerCache) put(tenant string, records map[string]*knownCustomer) {
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
func (c *customerCache) putRecords(tenant string, records map[string]*store.CustomerRecord) map[string]*knownCustomer {
	known := make(map[string]*knownCustomer, len(records))
	for id, rec := range records {
		known[id] = &knownCustomer{rec: rec}
	}
	c.put(tenant, known)
	return known
}
