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
	"github.com/cxpulse/cxpulse/internal/tenants"
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
	for range 20 {
		sl, err := e.plan(ctx, in, tenant, id, field, erasedAt)
		if err != nil {
			return Receipt{}, err
		}
		res, err := e.Store.Apply(ctx, sl)
		if err != nil {
			return Receipt{}, fmt.Errorf("erasing a customer of tenant %s: %w", tenant, err)
		}
		switch res.Outcome {
		case store.Applied:
			return e.done(ctx, tenant, customer, field, "", false)
		case store.AlreadyErased:
			return e.done(ctx, tenant, customer, field, res.Receipt, true)
		case store.PeriodMoved:
			in.Now = res.Now
		case store.ErasuresMoved, store.StaleRead, store.Conflict:
			// Read everything again.
		default:
			return Receipt{}, fmt.Errorf("erasing a customer of tenant %s: unexpected outcome %d", tenant, res.Outcome)
		}
	}
	return Receipt{}, fmt.Errorf("erasing a customer of tenant %s: %w", tenant, errUnsettled)
}

// plan reads what the erasure of customer id needs and plans it.
func (e *Eraser) plan(ctx context.Context, in *plan.Input, tenant, id, field string, erasedAt time.Time) (*store.Slice, error) {
	// The count the script checks (this instance's set is loaded once the
	// erasure is done).
	count, err := e.Store.ErasureCount(ctx, tenant)
	if err != nil {
		return nil, err
	}
	in.Erasures = count
	raw, err := e.Store.Index(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	entries, err := store.ParseIndex(raw)
	if err != nil {
		return nil, fmt.Errorf("a customer of tenant %s: %w", tenant, err)
	}
	// A later entry of an id (a revision) replaces the earlier.
	latest := map[string]int{}
	for i, en := range entries {
		latest[en.ID] = i
	}
	records := make([]*dedupe.Record, 0, len(latest))
	var rest []byte
	for i, en := range entries {
		if latest[en.ID] != i {
			continue
		}
		r, err := dedupe.Decode(en.ID, en.Record)
		if err != nil {
			return nil, fmt.Errorf("contribution index of a customer of tenant %s: %w", tenant, err)
		}
		if r.OccurredAt.After(erasedAt) {
			rest = store.AppendIndexEntry(rest, en.ID, []byte(en.Record)) // sent after the erasure: it stays
			continue
		}
		records = append(records, r)
	}
	sort.Slice(records, func(i, j int) bool { return records[i].ID < records[j].ID })
	recs, err := e.Store.Customers(ctx, tenant, []string{id})
	if err != nil {
		return nil, err
	}
	in.Customers = map[string]*customers.Known{id: customers.Absent()}
	if r := recs[id]; r != nil {
		in.Customers[id] = customers.Stored(r.Version, r.Data)
	}
	codes, err := e.Store.CodesOf(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	pl, err := plan.Erase(in, id, records, erasedAt)
	if err != nil {
		return nil, fmt.Errorf("planning the erasure of a customer of tenant %s: %w", tenant, err)
	}
	er := &store.Erase{Customer: id, Field: field, Index: raw, Rest: string(rest), Removed: len(records), Codes: codes}
	for _, r := range records {
		er.IDs = append(er.IDs, r.ID)
		if len(r.Terms) > 0 {
			for _, sc := range r.Scopes {
				er.Samples = append(er.Samples, store.Sample{Scope: sc, ID: r.ID})
			}
		}
	}
	if er.Alerts, err = e.alertRewrites(ctx, tenant, records); err != nil {
		return nil, err
	}
	st := stored{ErasedAt: erasedAt, EventsRetracted: pl.Applied, WindowsAndPeriodsChanged: changed(e.Store, in.Periods, &pl.Slice)}
	if er.Receipt, err = st.prefix(); err != nil {
		return nil, err
	}
	sl := &pl.Slice
	sl.Tenant, sl.Now, sl.Erase = tenant, in.Now, er
	return sl, nil
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

// alertRewrites returns the tenant's alert states whose annotations quote
// the erased events (a comment of theirs, a theme word of theirs among the
// top terms), rewritten without it.
func (e *Eraser) alertRewrites(ctx context.Context, tenant string, records []*dedupe.Record) ([]store.AlertRewrite, error) {
	var words []string
	var comments [][]string
	for _, r := range records {
		if len(r.Terms) > 0 {
			words = append(words, r.Terms...)
			comments = append(comments, r.Terms)
		}
	}
	if len(words) == 0 {
		return nil, nil
	}
	states, err := e.Alerts(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var out []store.AlertRewrite
	for fp, js := range states {
		var al alerts.Alert
		if err := json.Unmarshal([]byte(js), &al); err != nil {
			return nil, fmt.Errorf("alert %s of tenant %s: %w", fp, tenant, err)
		}
		changed, err := alerts.Scrub(al.Annotations, comments, words)
		if err != nil {
			return nil, fmt.Errorf("alert %s of tenant %s: %w", fp, tenant, err)
		}
		if !changed {
			continue
		}
		b, err := json.Marshal(&al)
		if err != nil {
			return nil, fmt.Errorf("encoding alert %s: %w", fp, err)
		}
		out = append(out, store.AlertRewrite{Fingerprint: fp, Old: js, New: string(b)})
	}
	return out, nil
}
