package aggregate

import (
	"sync"

	"github.com/cxpulse/cxpulse/internal/store"
)

// customerCache remembers the customer records this instance last wrote or
// read. A customer's events share a Kafka key, so they arrive on one
// partition and one instance: its cached record is almost always current,
// which saves reading it before planning. The apply script checks every
// record's version, so a stale entry costs a retry, never a wrong count.
type customerCache struct {
	mu      sync.Mutex
	max     int
	records map[string]*store.CustomerRecord // tenant + "\x00" + customer; nil: known to have none
}

func newCustomerCache(max int) *customerCache {
	return &customerCache{max: max, records: map[string]*store.CustomerRecord{}}
}

func cacheKey(tenant, id string) string { return tenant + "\x00" + id }

// get returns the cached records of ids and the ids not cached.
func (c *customerCache) get(tenant string, ids []string) (map[string]*store.CustomerRecord, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]*store.CustomerRecord, len(ids))
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

// put caches records (nil: the customer has no record).
func (c *customerCache) put(tenant string, records map[string]*store.CustomerRecord) {
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

// applied caches what an applied slice wrote.
func (c *customerCache) applied(tenant string, updates []store.CustomerUpdate) {
	recs := make(map[string]*store.CustomerRecord, len(updates))
	for _, u := range updates {
		if u.Record == nil {
			recs[u.ID] = nil
			continue
		}
		recs[u.ID] = &store.CustomerRecord{Version: u.Version, Data: u.Record}
	}
	c.put(tenant, recs)
}
