package customers

import (
	"strings"
	"sync"
)

// Cache remembers the customer records this instance last wrote or
// read, with their decoded histories when this instance wrote them. A
// customer's events share a Kafka key, so they arrive on one partition and
// one instance: its cached record is almost always current, which saves
// reading it before planning. The apply script checks every record's
// version, so a stale entry costs a retry, never a wrong count.
type Cache struct {
	mu      sync.Mutex
	max     int
	records map[string]*Known // tenant + "\x00" + customer
}

// NewCache returns a Cache of at most max customers.
func NewCache(max int) *Cache {
	return &Cache{max: max, records: map[string]*Known{}}
}

func cacheKey(tenant, id string) string { return tenant + "\x00" + id }

// Get returns the cached records of ids and the ids not cached.
func (c *Cache) Get(tenant string, ids []string) (map[string]*Known, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]*Known, len(ids))
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

// Put caches what is known of customers.
func (c *Cache) Put(tenant string, records map[string]*Known) {
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

// DropTenant forgets every cached customer of tenant (after an erasure:
// no instance keeps an erased customer in memory).
func (c *Cache) DropTenant(tenant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prefix := cacheKey(tenant, "")
	for k := range c.records {
		if strings.HasPrefix(k, prefix) {
			delete(c.records, k)
		}
	}
}

// PutStored caches what is known of customers from their stored records
// (a nil record: none stored) and returns it.
func (c *Cache) PutStored(tenant string, records map[string]*StoredRecord) map[string]*Known {
	known := make(map[string]*Known, len(records))
	for id, rec := range records {
		if rec == nil {
			known[id] = Absent()
		} else {
			known[id] = Stored(rec.Version, rec.Data)
		}
	}
	c.Put(tenant, known)
	return known
}

// StoredRecord is a customer record as stored, with its version.
type StoredRecord struct {
	Version int64
	Data    []byte
}
