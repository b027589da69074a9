package e2e

import (
	"cmp"
	"slices"
	"time"

	"github.com/cxpulse/cxpulse/pkg/events"
)

// --- The commerce reference: docs/metrics.md computed directly, by brute force
// over each customer's final events, with no state carried between
// events. ---

// refInactivity is the default inactivity horizon H; refInactivityOf
// holds the tenants that set their own (0: off).
const refInactivity = 90 * 24 * time.Hour

var refInactivityOf = map[string]time.Duration{"initech": 0}

func inactivityOf(tenant string) time.Duration {
	if h, ok := refInactivityOf[tenant]; ok {
		return h
	}
	return refInactivity
}

// refOrder orders a customer's events as the contract does: by
// occurred_at, then id.
func refOrder(a, b *events.Event) int {
	if c := a.OccurredAt.Compare(b.OccurredAt); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// refTooLate reports whether an event at t is in no window at now, the
// largest window reaching extra further back.
func refTooLate(t, now time.Time, extra time.Duration) bool {
	largest := refWindows[len(refWindows)-1]
	ms, b := t.UnixMilli(), largest.bucket.Milliseconds()
	start := time.UnixMilli(ms - ((ms%b)+b)%b)
	return !start.After(now.Add(-largest.length - extra))
}

// refCommerce returns, per scope and window, every commerce stat of the
// tenant's final events at now, for inactivity horizon h (0: off).
func refCommerce(final map[string]*events.Event, now time.Time, h time.Duration, scopesOf func(*events.Event) []string) map[string]map[string]map[string]float64 {
	type acc struct {
		purchases, refunds, sent, newC, referred, activated, losses int
		gross, refunded                                             float64
		buyers                                                      map[string]bool
	}
	accs := map[string]map[string]*acc{}
	get := func(scope, w string) *acc {
		if accs[scope] == nil {
			accs[scope] = map[string]*acc{}
			for _, rw := range refWindows {
				accs[scope][rw.name] = &acc{buyers: map[string]bool{}}
			}
		}
		return accs[scope][w]
	}
	active := map[string]map[string]time.Time{} // scope → customer → activation of the current spell
	each := func(ev *events.Event, at time.Time, scopes []string, f func(a *acc)) {
		for _, sc := range scopes {
			for _, w := range refWindows {
				a := get(sc, w.name)
				if w.in(at, now) {
					f(a)
				}
			}
		}
	}
	byCustomer := map[string][]*events.Event{}
	for _, ev := range final {
		switch ev.Type {
		case events.TypePurchaseCompleted:
			each(ev, ev.OccurredAt, scopesOf(ev), func(a *acc) {
				a.purchases++
				a.gross += ev.Purchase.Amount
				a.buyers[ev.CustomerID] = true
			})
		case events.TypePurchaseRefunded:
			each(ev, ev.OccurredAt, scopesOf(ev), func(a *acc) { a.refunds++; a.refunded += ev.Purchase.Amount })
		case events.TypeReferralSent:
			each(ev, ev.OccurredAt, scopesOf(ev), func(a *acc) { a.sent++ })
		default:
			each(ev, ev.OccurredAt, scopesOf(ev), func(*acc) {})
		}
		if ev.Type == events.TypePurchaseCompleted || ev.Type == events.TypeSubscriptionCancelled {
			byCustomer[ev.CustomerID] = append(byCustomer[ev.CustomerID], ev)
		}
	}
	for cust, all := range byCustomer {
		slices.SortFunc(all, refOrder)
		var first *events.Event
		for _, e := range all {
			if e.Type == events.TypePurchaseCompleted && (first == nil || refOrder(e, first) < 0) {
				first = e
			}
		}
		// A purchase older than the customer-state horizon when it
		// arrived may be the first one, and is no activity.
		evs := slices.DeleteFunc(slices.Clone(all), func(e *events.Event) bool { return refPeriodsOnly[e] })
		if first != nil {
			each(first, first.OccurredAt, scopesOf(first), func(a *acc) {
				a.newC++
				if first.Purchase.ReferralCode != "" {
					a.referred++
				}
			})
		}
		// Activity per scope (refSpells).
		for sc, spell := range refSpells(evs, now, h, scopesOf, func(sc string, at time.Time, loss bool) {
			each(nil, at, []string{sc}, func(a *acc) {
				if loss {
					a.losses++
				} else {
					a.activated++
				}
			})
		}) {
			if active[sc] == nil {
				active[sc] = map[string]time.Time{}
			}
			active[sc][cust] = spell
		}
	}
	out := map[string]map[string]map[string]float64{}
	for sc, ws := range accs {
		out[sc] = map[string]map[string]float64{}
		for _, w := range refWindows {
			a := ws[w.name]
			buyers := float64(len(a.buyers))
			m := map[string]float64{
				"purchases": float64(a.purchases), "refunds": float64(a.refunds), "revenue": a.gross - a.refunded,
				"customers_purchasing": buyers, "customers_new": float64(a.newC),
				"referrals_sent": float64(a.sent), "referral_conversions": float64(a.referred),
			}
			if a.purchases > 0 {
				m["atv"] = a.gross / float64(a.purchases)
			}
			if buyers > 0 {
				m["repeat_purchase_rate"] = 100 * (buyers - float64(a.newC)) / buyers
			}
			if a.sent > 0 {
				m["referral_conversion_rate"] = 100 * float64(a.referred) / float64(a.sent)
			}
			if a.newC > 0 {
				m["referral_new_customer_share"] = 100 * float64(a.referred) / float64(a.newC)
			}
			atStart, lost := refRetention(m, active[sc], a.activated, a.losses, w, now)
			if a.purchases > 0 && buyers > 0 && lost > 0 {
				m["clv"] = a.gross / float64(a.purchases) * (float64(a.purchases) / buyers) * (float64(atStart) / float64(lost))
			}
			out[sc][w.name] = m
		}
	}
	return out
}

// refSpells works out one customer's activity per scope from the
// definitions, over their events in order: a purchase activates unless the
// customer was active just before it; a cancellation is a loss where the
// customer was active; an inactivity loss falls at a purchase + h when
// neither a purchase nor a cancellation came before then. It reports each
// activation and loss (at its instant) through count, and returns the
// start of the spell under way at now per scope the customer is active in.
func refSpells(evs []*events.Event, now time.Time, h time.Duration, scopesOf func(*events.Event) []string, count func(scope string, at time.Time, loss bool)) map[string]time.Time {
	// until is when a purchase's activity lapses with no other event.
	until := func(p *events.Event) time.Time {
		if h == 0 {
			return time.Unix(1<<40, 0)
		}
		return p.OccurredAt.Add(h)
	}
	scopes := map[string]bool{}
	for _, e := range evs {
		if e.Type == events.TypePurchaseCompleted {
			for _, sc := range scopesOf(e) {
				scopes[sc] = true
			}
		}
	}
	active := map[string]time.Time{}
	for sc := range scopes {
		in := func(e *events.Event) bool {
			return e.Type == events.TypePurchaseCompleted && slices.Contains(scopesOf(e), sc)
		}
		// prev returns the latest purchase in sc ordered before evs[i].
		prev := func(i int) *events.Event {
			for j := i - 1; j >= 0; j-- {
				if in(evs[j]) {
					return evs[j]
				}
			}
			return nil
		}
		cancelledBetween := func(q *events.Event, i int, before time.Time) bool {
			for j := i - 1; j >= 0 && evs[j] != q; j-- {
				if evs[j].Type == events.TypeSubscriptionCancelled && evs[j].OccurredAt.Before(before) {
					return true
				}
			}
			return false
		}
		var spell time.Time
		on := false
		for i, e := range evs {
			q := prev(i)
			activeBefore := q != nil && e.OccurredAt.Before(until(q)) && !cancelledBetween(q, i, until(q))
			switch {
			case in(e) && !activeBefore:
				count(sc, e.OccurredAt, false)
				spell, on = e.OccurredAt, true
			case e.Type == events.TypeSubscriptionCancelled && activeBefore:
				count(sc, e.OccurredAt, true)
				on = false
			}
			if in(e) {
				// Inactivity loss after e: no later purchase in sc and no
				// cancellation before e + H.
				end := until(e)
				ended := h > 0
				for _, f := range evs[i+1:] {
					if f.OccurredAt.Before(end) && (in(f) || f.Type == events.TypeSubscriptionCancelled) {
						ended = false
						break
					}
				}
				if ended && !end.After(now) {
					count(sc, end, true)
				}
			}
		}
		// Active now: the latest purchase in sc is less than H ago and no
		// cancellation followed it.
		if q := prev(len(evs)); on && q != nil && now.Before(until(q)) &&
			!cancelledBetween(q, len(evs), now.Add(time.Hour)) {
			active[sc] = spell
		}
	}
	return active
}

// refRetention sets the activity stats of one scope and window in m, from
// the spells under way at now (customer → start), the activations and
// the losses in the window; it returns the customers at the window's
// start and those lost.
func refRetention(m map[string]float64, active map[string]time.Time, activated, losses int, w refWindow, now time.Time) (atStart, lost int) {
	act, retained := 0, 0
	for _, since := range active {
		act++
		if !w.in(since, now) {
			retained++
		}
	}
	atStart = act - activated + losses
	lost = atStart - retained
	m["customers_active"] = float64(act)
	m["customers_activated"] = float64(activated)
	m["losses"] = float64(losses)
	m["customers_at_start"] = float64(atStart)
	m["customers_retained"] = float64(retained)
	m["customers_lost"] = float64(lost)
	if atStart > 0 {
		m["churn_rate"] = 100 * float64(lost) / float64(atStart)
		m["retention_rate"] = 100 * float64(retained) / float64(atStart)
	}
	return atStart, lost
}
