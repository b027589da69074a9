// Package keys is the store's key schema (docs/redis.md). Every key of a
// tenant carries the hash tag {<tenant>}, so one script can touch all of
// them on a single Redis or a Cluster.
package keys

import (
	"strconv"
	"strings"
	"time"
)

// prefix starts every cxpulse key.
const prefix = "cxpulse:"

// Tenants is the set of tenants seen, for the sweeper and publisher.
const Tenants = prefix + "tenants"

// ChangedTenants is the set of tenants whose views were written since the
// publisher last took them: what its rounds visit, besides tenants with
// live alerts and a walk of every tenant now and then.
const ChangedTenants = prefix + "changed-tenants"

// SweepDue orders the tenants by when their next sweep is due (unix ms);
// SweepClaimed holds those a sweeper has taken, by when it must have
// finished. Both carry one hash tag, so one script moves tenants between
// them on a Cluster too.
const (
	SweepDue     = prefix + "{sweep}:due"
	SweepClaimed = prefix + "{sweep}:claimed"
)

// Tenant returns a key of tenant t: cxpulse:{t}:<parts>.
func Tenant(t string, parts ...string) string {
	return prefix + "{" + t + "}:" + strings.Join(parts, ":")
}

// TenantPattern matches every key of a tenant (SCAN MATCH).
func TenantPattern(tenant string) string { return prefix + "{" + tenant + "}:*" }

// View is the public view of one scope (docs/redis.md).
func View(tenant, scope string) string { return Tenant(tenant, "scores", scope) }

// Scopes is the set of scopes a tenant has data in.
func Scopes(tenant string) string { return Tenant(tenant, "scopes") }

// Counters holds one scope's buckets and running totals per window.
func Counters(tenant, scope string) string { return Tenant(tenant, "s", scope) }

// Watermarks is a tenant's watermarks hash (per partition the next offset
// applied, the sweep marks, and "reset" while it is rebuilt).
func Watermarks(tenant string) string { return Tenant(tenant, "wm") }

// Expiry orders a tenant's scopes and windows by when a bucket leaves.
func Expiry(tenant string) string { return Tenant(tenant, "exp") }

// Dirty holds the scopes changed since last published, with their seq.
func Dirty(tenant string) string { return Tenant(tenant, "dirty") }

// Pending holds the scopes whose view is not yet written, with the version.
func Pending(tenant string) string { return Tenant(tenant, "vpend") }

// Outbox is the list of a tenant's dead letters waiting for the publisher
// (package outbox reads it).
func Outbox(tenant string) string { return Tenant(tenant, "outbox") }

// Active holds the customers active in one scope.
func Active(tenant, scope string) string { return Tenant(tenant, "act", scope) }

// Customers holds a tenant's customer records.
func Customers(tenant string) string { return Tenant(tenant, "cust") }

// CustomersDue orders a tenant's customers by when their record is due.
func CustomersDue(tenant string) string { return Tenant(tenant, "cdue") }

// Conversions holds a tenant's referral conversions by purchase time.
func Conversions(tenant string) string { return Tenant(tenant, "conv") }

// Codes maps a tenant's referral codes to their referrers.
func Codes(tenant string) string { return Tenant(tenant, "codes") }

// Samples holds a scope's recent detractor comments.
func Samples(tenant, scope string) string { return Tenant(tenant, "samples", scope) }

// Dim is the set of a dimension's values that have a scope of their own.
func Dim(tenant, dim string) string { return Tenant(tenant, "dim", dim) }

// DimensionsPrefix starts the names of a tenant's Dim sets.
func DimensionsPrefix(tenant string) string { return Tenant(tenant, "dim") + ":" }

// Terms holds the theme term counts of one scope's hour ("h<hour>") or day
// ("d<day>") bucket: per term the number of comments holding it, and the
// number of comments under CommentsField. The detractor comments of a
// scope are kept under its name, the tenant's other NPS comments under
// OthersGroup.
func Terms(tenant, scope, bucket string) string { return Tenant(tenant, "terms", scope, bucket) }

// Theme buckets are kept this long after they end: hour buckets for the
// detection horizon, day buckets for baselines and the themes of longer
// windows (a tenant's comment_retention may keep them less).
const (
	ThemeHourKept = 48 * time.Hour
	ThemeDayKept  = 31 * 24 * time.Hour
)

// OthersGroup stands in Terms for a scope name: the theme terms of the
// comments of a tenant's NPS respondents who are not detractors, tenant
// wide. No scope has this name (scope names are "all" or hold '=').
const OthersGroup = "~others"

// CommentsField is the field of a Terms hash counting its comments (no
// term holds '#').
const CommentsField = "#comments"

// CommentWords lists, under a comment_retention, the theme words of the
// detractor comments that occurred on one UTC day (unix day number) and
// name a customer, each entry framed as customer, event id and the words
// (store.AppendCommentWords), so that an erasure finds the words its
// contribution index does not keep. Swept with the day's theme buckets.
func CommentWords(tenant string, day int64) string {
	return Tenant(tenant, "cw", "d"+strconv.FormatInt(day, 10))
}

// IDs holds the ids remembered in one dedupe period (now / horizon).
func IDs(tenant string, period int64) string {
	return Tenant(tenant, "ids", strconv.FormatInt(period, 10))
}

// Erased is a tenant's hash of erasures: keyed hash of the customer → the
// erasure's receipt (JSON, without the customer).
func Erased(tenant string) string { return Tenant(tenant, "erased") }

// Digests records a tenant's digests sent: cadence → the period of the
// last one.
func Digests(tenant string) string { return Tenant(tenant, "digests") }

// Alerts is a tenant's hash of alert states (fingerprint → JSON).
func Alerts(tenant string) string { return Tenant(tenant, "alerts") }

// Index is one customer's contribution index: a list whose elements each
// hold one or more entries (store.AppendIndexEntry).
func Index(tenant, customer string) string { return Tenant(tenant, "ci", customer) }

// Profile is a tenant's profile hash of script sections.
func Profile(tenant string) string { return Tenant(tenant, "prof") }

// Replayed is the set of dead letters (partition/offset of the dead-letter
// topic) a replay has re-produced to their topics.
func Replayed() string { return prefix + "replayed" }

// Imported is the set of events a tenant's history imports have sent (8
// bytes of SHA-256 of each id and revision), so that importing a file
// again, at any later time, sends nothing twice.
func Imported(tenant string) string { return Tenant(tenant, "imported") }

// ImportLedger is the import ledger of a tenant since it tells a
// conflicting row from one imported already: per event id and revision
// (8 bytes of SHA-256), 8 bytes of SHA-256 of what the event says
// (docs/redis.md). Imported is still read, for what earlier imports sent.
func ImportLedger(tenant string) string { return Tenant(tenant, "imported", "v2") }
