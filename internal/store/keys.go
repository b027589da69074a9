package store

import (
	"strconv"
	"strings"
)

// The key schema (docs/redis.md). Every key of a tenant carries the hash
// tag {<tenant>}, so one script can touch all of them on a single Redis or
// a Cluster.

// Key prefix of every cxpulse key.
const prefix = "cxpulse:"

// TenantsKey is the set of tenants seen, for the sweeper and publisher.
const TenantsKey = prefix + "tenants"

// tenantKey returns a key of tenant t: cxpulse:{t}:<parts>.
func tenantKey(t string, parts ...string) string {
	return prefix + "{" + t + "}:" + strings.Join(parts, ":")
}

// ViewKey is the public view of one scope (DESIGN §5).
func ViewKey(tenant, scope string) string { return tenantKey(tenant, "scores", scope) }

// ScopesKey is the set of scopes a tenant has data in.
func ScopesKey(tenant string) string { return tenantKey(tenant, "scopes") }

func countersKey(tenant, scope string) string { return tenantKey(tenant, "s", scope) }
func watermarksKey(tenant string) string      { return tenantKey(tenant, "wm") }
func expiryKey(tenant string) string          { return tenantKey(tenant, "exp") }
func dirtyKey(tenant string) string           { return tenantKey(tenant, "dirty") }
func outboxKey(tenant string) string          { return tenantKey(tenant, "outbox") }
func pendingKey(tenant string) string         { return tenantKey(tenant, "vpend") }
func alertsKey(tenant string) string          { return tenantKey(tenant, "alerts") }
func activeKey(tenant, scope string) string   { return tenantKey(tenant, "act", scope) }
func customersKey(tenant string) string       { return tenantKey(tenant, "cust") }
func customersDueKey(tenant string) string    { return tenantKey(tenant, "cdue") }
func conversionsKey(tenant string) string     { return tenantKey(tenant, "conv") }
func codesKey(tenant string) string           { return tenantKey(tenant, "codes") }
func samplesKey(tenant, scope string) string  { return tenantKey(tenant, "samples", scope) }
func dimKey(tenant, dim string) string        { return tenantKey(tenant, "dim", dim) }
func termsKey(tenant, scope, bucket string) string {
	return tenantKey(tenant, "terms", scope, bucket)
}

// idsKey holds the ids remembered in one dedupe period (now / horizon).
func idsKey(tenant string, period int64) string {
	return tenantKey(tenant, "ids", strconv.FormatInt(period, 10))
}

// ConversionMember names a referral conversion in the tenant's
// conversions set.
func ConversionMember(customer, code string) string { return customer + "\t" + code }
