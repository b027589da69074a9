// Package plan decides what one tenant slice does, given what is stored
// of its ids and customers: which events are new, repeats, revisions or
// conflicts, what each adds to or retracts from the buckets of every
// window, calendar period and theme, and what the changed customer
// histories derive. It does no I/O: the pipeline reads what it needs and
// the store applies the result, checking that what the plan assumed still
// holds.
package plan

import (
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxpulse/cxpulse/internal/customers"
	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/periodbuckets"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/period"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// Plan is what one tenant slice does, given what is known of its ids.
type Plan struct {
	Slice     store.Slice
	Applied   int // new events counted
	Revisions int // revisions that replaced an earlier version
	Dups      int // repeats dropped
	// Known holds, per customer the slice changes, what the slice leaves
	// stored: for the cache once the slice is applied.
	Known map[string]*customers.Known
}

// Item is one decoded event of a slice and what classifying it found.
type Item struct {
	Msg    *kafka.Message // where it came from (dead letters carry its bytes)
	Event  events.Event
	Scopes []string
	Terms  []string // theme terms of an NPS comment
	// TimeErr is deadletter.ReasonTooLate or ReasonInFuture when the
	// event's time is out of bounds, with Detail.
	TimeErr string
	Detail  string
}

// Input is what a tenant slice is planned from besides its items.
type Input struct {
	Windows []window.Window
	Now     time.Time
	// known holds the stored record of every id the store reported (an id
	// absent from known is assumed new; the store checks).
	Known map[string]*dedupe.Record
	// customers holds the stored records of the customers whose history
	// the slice's purchases and cancellations change (absent: none stored;
	// the store checks the versions).
	Customers map[string]*customers.Known
	Horizon   customers.Horizon
	// periods is the tenant's way of cutting time into calendar periods.
	Periods period.System
	// historyFrom reports whether an instant is within the customer-state
	// horizon (deadletter.Rules.InHistory): older purchases and
	// cancellations count in calendar periods only.
	InHistory func(time.Time) bool
	// CommentRetention is the tenant's comment_retention: a comment older
	// than it at now gives no sample and no theme words (0: no limit).
	CommentRetention time.Duration
	// due are customers to look at again with no new entry (inactivity
	// losses and forgetting, driven by the sweeper).
	Due []string
	// Erasures is the number of the tenant's erasures the items were
	// filtered with (the store checks it).
	Erasures int64
}

// IndexKept is how long an event stays in its customer's contribution
// index after it occurred, at least: as long as a calendar period can hold
// it (back to the start of the previous year, judged a day late) and no
// less than the largest window.
const IndexKept = (2*366 + 2) * 24 * time.Hour

// newPlanner returns a planner of in's windows and periods at in.Now.
func newPlanner(in *Input) *planner {
	pl := &planner{windows: in.Windows, deltas: make(map[deltaKey]int32, 64), index: map[string]int32{},
		periods: make(map[uint64]int32, 64)}
	if in.Periods.Loc != nil {
		pl.kept = periodbuckets.KeptAt(in.Periods, in.Now)
	}
	for _, w := range in.Windows {
		f, l := w.Span(in.Now)
		pl.first, pl.last = append(pl.first, f), append(pl.last, l)
	}
	return pl
}

// indexUntil is when an event at at leaves its customer's index.
func indexUntil(windows []window.Window, at time.Time) time.Time {
	keep := IndexKept
	if len(windows) > 0 {
		keep = max(keep, windows[len(windows)-1].Length+windows[len(windows)-1].Bucket)
	}
	return at.Add(keep)
}

// finish writes what the planner and themes summed into out's slice.
func (pl *planner) finish(out *Plan, th *themes, in *Input) {
	out.Slice.Terms = th.slice()
	out.Slice.Periods = in.Periods
	out.Slice.Erasures = in.Erasures
	out.Slice.PeriodDeltas = make([]store.PeriodDelta, 0, len(pl.porder))
	for i, k := range pl.porder {
		if d := &pl.psums[i]; !d.Zero() {
			out.Slice.PeriodDeltas = append(out.Slice.PeriodDeltas, store.PeriodDelta{Scope: pl.scopes[k.scope], Bucket: k.bucket, Counters: *d})
		}
	}
	out.Slice.Deltas = make([]store.Delta, 0, len(pl.order))
	for i, k := range pl.order {
		if d := pl.at(int32(i)); !d.Zero() {
			out.Slice.Deltas = append(out.Slice.Deltas, store.Delta{Scope: pl.scopes[k.scope], Window: int(k.window), Bucket: k.bucket, Counters: *d})
		}
	}
}

// inHistory returns in.InHistory, or a rule that holds everything in
// history when it is unset.
func (in *Input) inHistory() func(time.Time) bool {
	if in.InHistory == nil {
		return func(time.Time) bool { return true }
	}
	return in.InHistory
}

// appendSamples adds the comment samples of the chosen version of an event
// (base its earlier version, nil for a new event): one per scope when its
// comment left words, replacing the earlier version's; the earlier
// version's dropped from the scopes the new one leaves no sample in.
func appendSamples(out []store.Sample, base *dedupe.Record, chosen *Item, terms []string) []store.Sample {
	id := chosen.Event.ID
	if len(terms) > 0 {
		for _, sc := range chosen.Scopes {
			out = append(out, store.Sample{Scope: sc, ID: id,
				At: chosen.Event.OccurredAt.UnixMilli(), Score: chosen.Event.Survey.Score, Text: chosen.Event.Survey.Comment})
		}
	}
	if base == nil || base.Type != string(events.TypeSurveyResponse) {
		return out
	}
	for _, sc := range base.Scopes {
		if len(terms) == 0 || !slices.Contains(chosen.Scopes, sc) {
			out = append(out, store.Sample{Scope: sc, ID: id, Drop: true})
		}
	}
	return out
}

// wordsUntil is how long the comment words of an event that occurred at
// at are kept for erasure: as long as its day's theme bucket can hold them
// under the retention (the sweep deletes them with it; the margin covers
// a sweep's delay).
func wordsUntil(at time.Time, retention time.Duration) time.Time {
	day := 24 * time.Hour
	return at.Truncate(day).Add(day + min(store.ThemeDayKept, retention) + 2*time.Hour)
}

// historyEntry returns the history entry of a purchase or cancellation.
func historyEntry(it *Item) customers.Entry {
	e := customers.Entry{ID: it.Event.ID, At: it.Event.OccurredAt.UnixMilli(), Cancel: it.Event.Type == events.TypeSubscriptionCancelled}
	if !e.Cancel {
		e.Scopes = it.Scopes
		if it.Event.Purchase != nil {
			e.Code = it.Event.Purchase.ReferralCode
		}
	}
	return e
}

// customerUpdate is the store's form of a customer change.
func customerUpdate(id string, ch *customers.Change) store.CustomerUpdate {
	u := store.CustomerUpdate{ID: id, Expect: dedupe.NewEvent, Record: ch.Record, Version: ch.Version, Due: ch.Due, Active: ch.Active}
	if ch.Stored {
		u.Expect = ch.Expect
	}
	if ch.DueUnchanged {
		u.Due = store.DueUnchanged
	}
	if ch.ConversionMoved {
		if ch.ConversionDel != "" {
			u.ConversionDel = store.ConversionMember(id, ch.ConversionDel)
		}
		if ch.ConversionAdd != "" {
			u.ConversionAdd = store.ConversionMember(id, ch.ConversionAdd)
		}
		u.ConversionAt = ch.ConversionAt
	}
	return u
}
