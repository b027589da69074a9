package erasure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/customers"
	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/periodbuckets"
	"github.com/cxpulse/cxpulse/internal/plan"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// Eraser erases customers.
type Eraser struct {
	Store   *store.Store
	Set     *Set
	Tenants *tenants.Registry
	// InHistory reports whether a purchase or cancellation of tenant at at
	// is within the customer-state horizon at now (timerule.Rule).
	InHistory func(tenant string, at, now time.Time) bool
	// Log records each erasure on cx.erasures.
	Log *Log
	// Alerts reads a tenant's stored alert states (fingerprint → JSON),
	// whose annotations may quote the customer.
	Alerts func(ctx context.Context, tenant string) (map[string]string, error)
	// Queued reads the alert notifications waiting for a sink (queue key →
	// notifications as JSON), which may quote the customer too.
	Queued func(ctx context.Context, tenant string) (map[string][]string, error)
	Now    func() time.Time
}

// errUnsettled is returned for an erasure whose customer kept changing.
var errUnsettled = errors.New("the customer's state kept changing under the erasure; run it again")

// Erase erases customer of tenant: every window and calendar period
// becomes what it would be had the customer never sent the events they
// sent up to now, and no Redis key or value names them. Erasing an erased
// customer answers the first receipt with AlreadyErased. The customer is
// the id the app sent (a pseudonymizing tenant's pseudonym is worked out
// here).
func (e *Eraser) Erase(ctx context.Context, tenant, customer string) (Receipt, error) {
	if customer == "" {
		return Receipt{}, errors.New("customer: empty")
	}
	t, known := e.Tenants.Get(tenant)
	if !known {
		return Receipt{}, fmt.Errorf("tenant %s: not in the tenants file", tenant)
	}
	id := t.Pseudonym(customer)
	h, err := e.Set.Hasher(ctx)
	if err != nil {
		return Receipt{}, err
	}
	field := h.Hash(tenant, id)
	now := e.Now()
	erasedAt := now.UTC().Truncate(time.Millisecond)
	windows := e.Store.Windows()
	in := &plan.Input{Windows: windows, Now: now, Horizon: customers.TenantHorizon(windows[len(windows)-1], t.ChurnInactivity),
		Periods: t.Periods, CommentRetention: t.CommentRetention}
	in.InHistory = func(at time.Time) bool { return e.InHistory(tenant, at, in.Now) }
	// An erasure of an erased customer still removes what is found of
	// them (events counted since, or left by an earlier version): a new
	// erasure, its receipt replacing the first. With nothing found it
	// answers the first receipt.
	prior, err := e.Store.Erasure(ctx, tenant, field)
	if err != nil {
		return Receipt{}, err
	}
	for range 20 {
		sl, found, err := e.plan(ctx, in, tenant, id, field, erasedAt, prior)
		if err != nil {
			return Receipt{}, err
		}
		if prior != "" && !found {
			return e.done(ctx, tenant, customer, field, prior, true)
		}
		res, err := e.Store.Apply(ctx, sl)
		if err != nil {
			return Receipt{}, fmt.Errorf("erasing a customer of tenant %s: %w", tenant, err)
		}
		switch res.Outcome {
		case store.Applied:
			return e.done(ctx, tenant, customer, field, "", false)
		case store.AlreadyErased:
			prior = res.Receipt // erased meanwhile: anything left is planned again
		case store.PeriodMoved:
			in.Now = res.Now
		case store.ErasuresMoved, store.StaleRead, store.Conflict:
			// Read everything again.
			if prior, err = e.Store.Erasure(ctx, tenant, field); err != nil {
				return Receipt{}, err
			}
		default:
			return Receipt{}, fmt.Errorf("erasing a customer of tenant %s: unexpected outcome %d", tenant, res.Outcome)
		}
	}
	return Receipt{}, fmt.Errorf("erasing a customer of tenant %s: %w", tenant, errUnsettled)
}

// plan reads what the erasure of customer id needs and plans it, and
// reports whether anything of the customer was found. Every event of the
// contribution index is retracted, whatever its occurred_at: one dated
// ahead of the erasure (within the accepted clock skew) was counted all
// the same, and the erasure covers it (CoversUntil). prior is the
// receipt of the customer's earlier erasure, "" for none.
func (e *Eraser) plan(ctx context.Context, in *plan.Input, tenant, id, field string, erasedAt time.Time, prior string) (*store.Slice, bool, error) {
	// The count the script checks (this instance's set is loaded once the
	// erasure is done).
	count, err := e.Store.ErasureCount(ctx, tenant)
	if err != nil {
		return nil, false, err
	}
	in.Erasures = count
	raw, err := e.Store.Index(ctx, tenant, id)
	if err != nil {
		return nil, false, err
	}
	all, records, err := indexRecords(tenant, raw)
	if err != nil {
		return nil, false, err
	}
	words, err := e.commentWords(ctx, tenant, id, all, records)
	if err != nil {
		return nil, false, err
	}
	covers := erasedAt
	for _, r := range records {
		if r.OccurredAt.After(covers) {
			covers = r.OccurredAt
		}
	}
	recs, err := e.Store.Customers(ctx, tenant, []string{id})
	if err != nil {
		return nil, false, err
	}
	in.Customers = map[string]*customers.Known{id: customers.Absent()}
	if r := recs[id]; r != nil {
		in.Customers[id] = customers.Stored(r.Version, r.Data)
	}
	codes, err := e.Store.CodesOf(ctx, tenant, id)
	if err != nil {
		return nil, false, err
	}
	found := len(records) > 0 || recs[id] != nil || len(codes) > 0 || len(words) > 0
	pl, err := plan.Erase(in, id, records, covers)
	if err != nil {
		return nil, false, fmt.Errorf("planning the erasure of a customer of tenant %s: %w", tenant, err)
	}
	er := &store.Erase{Customer: id, Field: field, Again: prior, Index: raw, Removed: len(records), Codes: codes, Words: words}
	for _, r := range records {
		er.IDs = append(er.IDs, r.ID)
		// Any answer may have left a comment sample, whatever the
		// tenant's retention kept of its words.
		if r.Type == string(events.TypeSurveyResponse) {
			for _, sc := range r.Scopes {
				er.Samples = append(er.Samples, store.Sample{Scope: sc, ID: r.ID})
			}
		}
	}
	if er.Alerts, er.Queued, err = e.alertRewrites(ctx, tenant, records); err != nil {
		return nil, false, err
	}
	st := stored{ErasedAt: erasedAt, CoversUntil: covers, EventsRetracted: pl.Applied, WindowsAndPeriodsChanged: changed(e.Store, in.Periods, &pl.Slice)}
	if er.Receipt, err = st.prefix(); err != nil {
		return nil, false, err
	}
	sl := &pl.Slice
	sl.Tenant, sl.Now, sl.Erase = tenant, in.Now, er
	return sl, found, nil
}

// indexRecords reads a contribution index: every entry, revisions
// included, and the latest record of each event, sorted by id.
func indexRecords(tenant, raw string) (all, latest []*dedupe.Record, err error) {
	entries, err := store.ParseIndex(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("a customer of tenant %s: %w", tenant, err)
	}
	last := map[string]int{}
	for i, en := range entries {
		last[en.ID] = i
	}
	for i, en := range entries {
		r, err := dedupe.Decode(en.ID, en.Record)
		if err != nil {
			return nil, nil, fmt.Errorf("contribution index of a customer of tenant %s: %w", tenant, err)
		}
		all = append(all, r)
		if last[en.ID] == i {
			latest = append(latest, r)
		}
	}
	sort.Slice(latest, func(i, j int) bool { return latest[i].ID < latest[j].ID })
	return all, latest, nil
}

// commentWords reads the comment-word lists of the days the customer's
// answers occurred on (every revision's day: kept under a
// comment_retention, when the index holds no words), returns the entries
// that name the customer, and gives each latest record without words the
// words its entry of its day holds.
func (e *Eraser) commentWords(ctx context.Context, tenant, id string, all, latest []*dedupe.Record) ([]store.ListEntry, error) {
	day := func(at time.Time) int64 { return at.UnixMilli() / (24 * time.Hour).Milliseconds() }
	seen := map[int64]bool{}
	var days []int64
	for _, r := range all {
		if d := day(r.OccurredAt); r.Type == string(events.TypeSurveyResponse) && !seen[d] {
			seen[d] = true
			days = append(days, d)
		}
	}
	lists, err := e.Store.CommentWords(ctx, tenant, days)
	if err != nil {
		return nil, err
	}
	var out []store.ListEntry
	type version struct {
		key, id  string
		revision int64
	}
	terms := map[version][]string{} // the words of each version, by list
	for key, elems := range lists {
		for _, el := range elems {
			cw, err := store.ParseCommentWords(el)
			if err != nil {
				return nil, fmt.Errorf("comment words of tenant %s: %w", tenant, err)
			}
			if cw.Customer == id {
				out = append(out, store.ListEntry{Key: key, Element: el})
				terms[version{key, cw.ID, cw.Revision}] = cw.Terms
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key+out[i].Element < out[j].Key+out[j].Element })
	for _, r := range latest {
		if len(r.Terms) == 0 {
			r.Terms = terms[version{keys.CommentWords(tenant, day(r.OccurredAt)), r.ID, r.Revision}]
		}
	}
	return out, nil
}

// done answers the receipt of an erasure stored under field (read from
// Redis when rec is ""), once cx.erasures holds it too.
func (e *Eraser) done(ctx context.Context, tenant, customer, field, rec string, already bool) (Receipt, error) {
	if rec == "" {
		var err error
		if rec, err = e.Store.Erasure(ctx, tenant, field); err != nil {
			return Receipt{}, err
		}
	}
	st, err := parseStored(rec)
	if err != nil {
		return Receipt{}, err
	}
	if err := e.Log.Record(ctx, tenant, field, rec); err != nil {
		return Receipt{}, err
	}
	// This instance knows the erasure from now on (others within
	// seconds): it keeps it even if Redis loses it.
	if _, err := e.Set.Load(ctx, tenant); err != nil {
		return Receipt{}, err
	}
	return st.receipt(tenant, customer, already), nil
}

// changed names the windows and calendar periods an erasure slice
// changes: the windows in their order, then every period (of every kind)
// holding a changed local day, sorted.
func changed(st *store.Store, sys period.System, sl *store.Slice) []string {
	out := []string{}
	seen := map[string]bool{}
	windows := st.Windows()
	for wi := range windows {
		if slices.ContainsFunc(sl.Deltas, func(d store.Delta) bool { return d.Window == wi }) {
			out = append(out, windows[wi].Name)
		}
	}
	var periods []string
	for _, d := range sl.PeriodDeltas {
		if d.Bucket.Unit != periodbuckets.Day || sys.Loc == nil {
			continue
		}
		for k := period.Day; k <= period.Year; k++ {
			if name := sys.Name(sys.Containing(k, d.Bucket.Index)); !seen[name] {
				seen[name] = true
				periods = append(periods, name)
			}
		}
	}
	sort.Strings(periods)
	return append(out, periods...)
}

// alertRewrites returns the tenant's alert states and the notifications
// waiting for a sink whose annotations quote the erased events (a comment
// of theirs, a theme word of theirs among the top terms), rewritten
// without it.
func (e *Eraser) alertRewrites(ctx context.Context, tenant string, records []*dedupe.Record) ([]store.AlertRewrite, []store.ListRewrite, error) {
	var words []string
	var comments [][]string
	for _, r := range records {
		if len(r.Terms) > 0 && r.Detractor() {
			words = append(words, r.Terms...)
			comments = append(comments, r.Terms)
		}
	}
	if len(words) == 0 {
		return nil, nil, nil
	}
	states, err := e.Alerts(ctx, tenant)
	if err != nil {
		return nil, nil, err
	}
	var out []store.AlertRewrite
	for fp, js := range states {
		var al alerts.Alert
		if err := json.Unmarshal([]byte(js), &al); err != nil {
			return nil, nil, fmt.Errorf("alert %s of tenant %s: %w", fp, tenant, err)
		}
		changed, err := alerts.Scrub(al.Annotations, comments, words)
		if err != nil {
			return nil, nil, fmt.Errorf("alert %s of tenant %s: %w", fp, tenant, err)
		}
		if !changed {
			continue
		}
		b, err := json.Marshal(&al)
		if err != nil {
			return nil, nil, fmt.Errorf("encoding alert %s: %w", fp, err)
		}
		out = append(out, store.AlertRewrite{Fingerprint: fp, Old: js, New: string(b)})
	}
	queued, err := e.queuedRewrites(ctx, tenant, comments, words)
	return out, queued, err
}

// queuedRewrites returns the notifications waiting for a sink that quote
// the erased comments or words, rewritten without them.
func (e *Eraser) queuedRewrites(ctx context.Context, tenant string, comments [][]string, words []string) ([]store.ListRewrite, error) {
	if e.Queued == nil {
		return nil, nil
	}
	queues, err := e.Queued(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var out []store.ListRewrite
	for key, notes := range queues {
		for _, js := range notes {
			var nt alerts.Notification
			if err := json.Unmarshal([]byte(js), &nt); err != nil {
				return nil, fmt.Errorf("a notification queued at %s: %w", key, err)
			}
			changed, err := alerts.Scrub(nt.Annotations, comments, words)
			if err != nil {
				return nil, fmt.Errorf("a notification queued at %s: %w", key, err)
			}
			if !changed {
				continue
			}
			b, err := json.Marshal(&nt)
			if err != nil {
				return nil, fmt.Errorf("encoding a notification: %w", err)
			}
			out = append(out, store.ListRewrite{Key: key, Old: js, New: string(b)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key+out[i].Old < out[j].Key+out[j].Old })
	return out, nil
}
