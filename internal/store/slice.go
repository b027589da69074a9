package store

import (
	"time"

	"github.com/cxpulse/cxpulse/internal/customers"
	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/internal/store/views"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// Slice is one tenant's part of fetched batches of one or more partitions:
// everything the apply script writes for it, planned on the assumption
// that the ids and customer records are as the plan saw them.
type Slice struct {
	Tenant  string
	Ranges  []Range
	Now     time.Time
	IDs     []dedupe.Check
	Records []dedupe.Record
	Deltas  []Delta
	// Periods is how the tenant cuts time into calendar periods (UTC and
	// Gregorian when zero), and PeriodDeltas what the slice adds to their
	// buckets.
	Periods      period.System
	PeriodDeltas []PeriodDelta
	// Letters are dead letters whose reason depends on what is remembered
	// (too_late, in_future, revision_conflict): they are queued in the
	// tenant's outbox atomically with the slice.
	Letters []Letter
	// Customers are the customer records the slice rewrites, each checked
	// against the version the plan was made from.
	Customers []CustomerUpdate
	// Codes maps referral codes to their referrers.
	Codes map[string]string
	// Terms change the theme term counts of detractor comments.
	Terms []TermDelta
	// Samples are recent detractor comments, kept a few per scope.
	Samples []Sample
	// Index adds the slice's events that name a customer to their
	// customers' contribution indexes (for erasure).
	Index []IndexEntry
	// CommentWords keeps, under a comment_retention (when the index keeps
	// no words), the theme words of the slice's commented events that name
	// a customer, by the day they occurred (keys.CommentWords).
	CommentWords []CommentWords
	// Erasures is the number of the tenant's erasures the slice was
	// planned with (the events of erased customers left out): the script
	// refuses a slice planned with another (ErasuresMoved).
	Erasures int64
	// Erase, when set, makes the slice the erasure of one customer.
	Erase *Erase
}

// periods returns the slice's period system, UTC and Gregorian when unset.
func (sl *Slice) periods() period.System {
	if sl.Periods.Loc == nil {
		return period.UTC
	}
	return sl.Periods
}

// Range is the part of one partition a slice covers: every message of the
// tenant in [Start, End) is in the slice.
type Range struct {
	Partition string // topic/partition
	Epoch     int64  // the claim this consumer holds
	Start     int64
	End       int64
	// Expect is how far the group applied the tenant's messages of the
	// partition (0: none known): a watermark below it means the tenant's
	// state was lost or rolled back, and the slice is refused (Behind).
	Expect int64
	// Rewound is the last rewind request the partition carried out: a
	// tenant being rebuilt refuses a partition that has not read again
	// from its log start for it (Rewind).
	Rewound int64
}

// Delta adds counters to one bucket of one window of one scope.
type Delta struct {
	Scope    string
	Window   int // index into Windows()
	Bucket   int64
	Counters stats.Counters
}

// TermDelta changes one term's count in one theme bucket of one scope.
type TermDelta struct {
	Scope  string
	Bucket string // "h<hour number>" or "d<day number>", counted from the epoch
	Term   string
	N      int64
}

// Theme buckets are kept this long after they end (keys.ThemeHourKept);
// the planner creates none older, and the sweeper deletes them by name.
const (
	ThemeHourKept = keys.ThemeHourKept
	ThemeDayKept  = keys.ThemeDayKept
)

// Sample is a recent detractor comment of a scope.
type Sample struct {
	Scope string `json:"-"`
	// Drop only removes the event's sample from the scope (a revision
	// that leaves it no comment there); a sample pushed replaces the
	// event's earlier one.
	Drop  bool   `json:"-"`
	ID    string `json:"id"`
	At    int64  `json:"at"` // occurred_at, unix ms
	Score int    `json:"score"`
	Text  string `json:"text"`
}

// SamplesKept is how many recent detractor comments a scope keeps.
const SamplesKept = 3

// CustomerUpdate rewrites one customer's record and what follows from it
// outside the bucket counters.
type CustomerUpdate struct {
	ID     string
	Expect int64  // the stored version the plan saw, NewEvent when none
	Record []byte // the new record; nil forgets the customer
	// Version is the new record's version: above Expect, and no less than
	// the instant of the write in unix ms, so a customer forgotten and seen
	// again does not reuse an earlier version.
	Version int64
	Due     int64 // unix ms at which the record must be looked at again; 0: never; DueUnchanged
	// Active sets, per scope, the start (unix ms) of the customer's current
	// activity spell, or removes the customer from the scope's active set.
	Active []customers.ActiveChange
	// Conversion moves the customer's referral conversion (a first
	// purchase with a code, see ConversionMember): the old member is
	// removed, the new one added.
	ConversionDel, ConversionAdd string
	ConversionAt                 int64
}

// DueUnchanged leaves a customer's due time as stored.
const DueUnchanged = -1

// Letter is a dead letter waiting in a tenant's outbox.
type Letter struct {
	Key    []byte `json:"k"`
	Value  []byte `json:"v"`
	Reason string `json:"r"`
	Detail string `json:"d"`
	Source string `json:"s"`
	// ReplayOf is the source of the dead letter a replay re-produced this
	// message from (its cxpulse-replay-of header), "" for a first try.
	ReplayOf string `json:"o,omitempty"`
}

// Outcome is what Apply did.
type Outcome int

// Outcomes of Apply.
const (
	// Applied: everything was written, the views included.
	Applied Outcome = iota + 1
	// Skipped: some ranges start below the tenant's watermark for their
	// partition; nothing was written. Trim to Watermarks and retry.
	Skipped
	// Fenced: a claim with a higher epoch has written to Partition; nothing
	// was written and this consumer must stop working on that partition.
	Fenced
	// Conflict: some ids were not as assumed; nothing was written.
	// Conflicts holds their stored records (nil: not remembered).
	Conflict
	// Behind: the tenant's watermark for Partition is below what the group
	// applied (Range.Expect): its state was lost or rolled back; nothing
	// was written.
	Behind
	// OutboxFull: the slice's dead letters would pass OutboxCap; nothing
	// was written. Retry once the publisher drained the outbox.
	OutboxFull
	// PeriodMoved: by the tenant's clock (Now) the local day the slice was
	// planned for has ended; nothing was written. Plan again at Now.
	PeriodMoved
	// Rewind: the tenant is being rebuilt and Partition has not read again
	// from its log start for it (rewind request Expected); nothing was
	// written.
	Rewind
	// ErasuresMoved: the tenant's erasures are not the Slice.Erasures the
	// slice was planned with (Expected holds their number now); nothing
	// was written. Leave out the newly erased customers and plan again.
	ErasuresMoved
	// AlreadyErased: the erasure's customer is erased already (Receipt
	// holds the stored receipt); nothing was written.
	AlreadyErased
	// StaleRead: what the erasure read (the customer's contribution
	// index, an alert state it rewrites) changed since; nothing was
	// written. Read it again.
	StaleRead
)

// Result is the answer of Apply.
type Result struct {
	Outcome    Outcome
	Watermarks map[string]int64 // Skipped: partition → watermark
	Partition  string           // Fenced, Behind, Rewind
	// Watermark is, when Behind, the tenant's watermark ("" when it has
	// none) and Expected what the group applied; when Rewind, Expected is
	// the rewind request the tenant's rebuild waits for.
	Watermark string
	Expected  int64
	// Now is, when PeriodMoved, the tenant's clock.
	Now time.Time
	// Receipt is, when AlreadyErased, the stored receipt.
	Receipt   string
	Conflicts map[string]*dedupe.Record
	// CustomerConflicts holds the stored records of customers that were not
	// at the expected version (nil: none stored).
	CustomerConflicts map[string]*customers.StoredRecord
	// Views holds, when Applied, the new totals of every scope the slice
	// changed, whose views Apply wrote.
	Views []views.Totals
}
