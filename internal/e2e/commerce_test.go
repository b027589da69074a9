package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/api"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/internal/testseed"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// shop generates one tenant's purchase history: customers buying mostly
// at a home store at their own pace (some pausing longer than the
// inactivity horizon), refunds, cancellations and returns, referral codes
// sent and redeemed on first purchases (some codes never sent).
type shop struct {
	rng    *rand.Rand
	tenant string
	now    time.Time
	seq    int
	codes  []string
}

func (s *shop) dims(store int) map[string]string {
	return map[string]string{"store": fmt.Sprintf("s%02d", store), "region": []string{"eu", "us", "apac"}[store%3],
		"channel": []string{"web", "app", "store"}[s.rng.IntN(3)]}
}

func (s *shop) event(typ events.Type, customer string, at time.Time, store int) events.Event {
	s.seq++
	return events.Event{ID: fmt.Sprintf("%s-%d", typ[:3], s.seq), Type: typ, Tenant: s.tenant, OccurredAt: at.Truncate(time.Millisecond),
		CustomerID: customer, Dims: s.dims(store)}
}

// history returns every event of n customers whose first purchase lies up
// to span before now.
func (s *shop) history(n int, span time.Duration) []events.Event {
	var out []events.Event
	day := 24 * time.Hour
	for c := range n {
		cust := fmt.Sprintf("k%03d", c)
		home := s.rng.IntN(12)
		pace := []time.Duration{4 * day, 15 * day, 45 * day}[s.rng.IntN(3)]
		at := s.now.Add(-time.Duration(s.rng.Int64N(int64(span))))
		first := true
		for at.Before(s.now) {
			store := home
			if s.rng.IntN(5) == 0 {
				store = s.rng.IntN(12)
			}
			p := s.event(events.TypePurchaseCompleted, cust, at, store)
			p.Purchase = &events.Purchase{OrderID: "o-" + p.ID, Amount: float64(s.rng.IntN(30000)) / 100}
			if first && len(s.codes) > 0 && s.rng.IntN(3) == 0 {
				p.Purchase.ReferralCode = s.codes[s.rng.IntN(len(s.codes))]
			}
			if first && s.rng.IntN(25) == 0 {
				p.Purchase.ReferralCode = "NEVER-SENT-" + cust
			}
			first = false
			out = append(out, p)
			if s.rng.IntN(10) == 0 {
				if t := at.Add(time.Duration(s.rng.Int64N(int64(3 * day)))); t.Before(s.now) {
					r := s.event(events.TypePurchaseRefunded, cust, t, store)
					r.Purchase = &events.Purchase{OrderID: p.Purchase.OrderID, Amount: p.Purchase.Amount}
					out = append(out, r)
				}
			}
			if s.rng.IntN(5) == 0 && len(s.codes) < n {
				code := fmt.Sprintf("R-%s-%d", cust, s.seq)
				r := s.event(events.TypeReferralSent, cust, at.Add(time.Hour), store)
				if r.OccurredAt.Before(s.now) {
					r.Referral = &events.Referral{Code: code, ReferrerID: cust}
					out = append(out, r)
					s.codes = append(s.codes, code)
				}
			}
			gap := time.Duration(s.rng.ExpFloat64() * float64(pace))
			if s.rng.IntN(12) == 0 {
				if t := at.Add(gap / 2); t.Before(s.now) {
					out = append(out, s.event(events.TypeSubscriptionCancelled, cust, t, store))
				}
			}
			at = at.Add(gap + time.Minute)
		}
	}
	return out
}

// TestCommerceExact sends a generated purchase history (an import of
// history older than the largest window first, then the rest shuffled,
// with repeats, revisions, too-late events and one customer whose earliest
// purchase arrives last) and compares every commerce stat of every scope
// and window, and the advocates ranking, with the reference; then moves
// the clock 30 days so that inactivity losses and forgotten history play
// their part, and compares again.
func TestCommerceExact(t *testing.T) {
	seed := testseed.New(t)
	rng := rand.New(rand.NewPCG(seed, 11))
	now := time.Date(2026, 11, 22, 12, 0, 30, 0, time.UTC)
	day := 24 * time.Hour
	clk := newClock(now)
	_, broker := testenv.Kafka(t, 4, allTopics...)
	rdb, addr := testenv.Redis(t)
	tenantsFile := writeTenants(t, "tenants:\n  acme: {}\n  initech:\n    churn_inactivity: \"off\"\n")
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_SCOPE_COMBOS": "channel+region", "CXPULSE_TENANTS_FILE": tenantsFile}, clk)

	// acme keeps the default inactivity horizon of 90 days; initech has it
	// off (customers leave only by cancelling).
	older, recent, revisions, last := commerceStream(t, rng, now)
	rng.Shuffle(len(recent), func(i, j int) { recent[i], recent[j] = recent[j], recent[i] })
	all := append(append(append(older, recent...), revisions...), last...)
	sources := produce(t, broker, older)
	waitApplied(t, in.base)
	sources = append(sources, produce(t, broker, recent)...)
	waitApplied(t, in.base)
	sources = append(sources, produce(t, broker, append(revisions, last...))...)
	waitApplied(t, in.base)

	final, bad := reference(all, now)
	require.NotEmpty(t, bad, "the history reaches past the customer-state horizon")
	scopesOf := func(ev *events.Event) []string {
		return []string{"all", "store=" + ev.Dims["store"], "region=" + ev.Dims["region"], "channel=" + ev.Dims["channel"],
			"channel=" + ev.Dims["channel"] + ",region=" + ev.Dims["region"]}
	}
	for _, reason := range bad {
		require.Equal(t, "too_late", reason)
	}
	checkDeadLetters(t, broker, wantLetters(bad, sources))
	check := func(at time.Time) {
		for _, tenant := range []string{"acme", "initech"} {
			want := expected(final[tenant], at, scopesOf)
			require.Len(t, want, 1+12+3+3+9)
			checkScores(t, in.base, tenant, want)
			for _, w := range refWindows {
				var got api.AdvocateList
				require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/"+tenant+"/advocates?limit=1000&window="+w.name, &got))
				require.Equal(t, refAdvocates(final[tenant], w, at), got.Advocates, "advocates of %s in %s", tenant, w.name)
			}
		}
	}
	check(now)
	acme := expected(final["acme"], now, scopesOf)["all"]
	t.Logf("acme, all, 30d: %v", acme["30d"].commerce)
	require.Positive(t, acme["90d"].commerce["losses"], "inactivity and cancellation losses")
	require.Positive(t, acme["90d"].commerce["referral_conversions"])

	// Memory of the customer state (docs/redis.md): the records, the due
	// set, the conversions and the active sets of every scope.
	customers, err := rdb.HLen(t.Context(), "cxpulse:{acme}:cust").Result()
	require.NoError(t, err)
	keys, err := rdb.Keys(t.Context(), "cxpulse:{acme}:act:*").Result()
	require.NoError(t, err)
	var bytes int64
	for _, k := range append(keys, "cxpulse:{acme}:cust", "cxpulse:{acme}:cdue", "cxpulse:{acme}:conv") {
		n, err := rdb.MemoryUsage(t.Context(), k, 0).Result()
		require.NoError(t, err)
		bytes += n
	}
	t.Logf("customer state: %d customers, %d bytes, %d bytes per customer", customers, bytes, bytes/customers)
	require.Less(t, bytes/customers, int64(4096), "bytes per customer")

	// 30 days on: losses to inactivity happen with no event; history is
	// forgotten past the horizon without changing any figure.
	later := now.Add(30 * day)
	clk.set(later)
	require.NoError(t, in.agg.SweepOnce(t.Context()))
	check(later)
	for _, tenant := range []string{"acme", "initech"} {
		due, err := rdb.ZCount(t.Context(), "cxpulse:{"+tenant+"}:cdue", "-inf", fmt.Sprint(later.UnixMilli())).Result()
		require.NoError(t, err)
		require.Zero(t, due, "customers of %s still due after the sweep", tenant)
	}
}

// refAdvocates ranks referrers by the conversions of the first purchases
// in window w at now: codes resolved through the referral.sent events,
// "unknown" for codes never sent. As for customers_new, a purchase that
// counted in calendar periods only (older than the customer-state horizon
// when it arrived) may still be the first purchase.
func refAdvocates(final map[string]*events.Event, w refWindow, now time.Time) []api.Advocate {
	referrer := map[string]string{}
	first := map[string]*events.Event{}
	for _, ev := range final {
		switch ev.Type {
		case events.TypeReferralSent:
			referrer[ev.Referral.Code] = ev.Referral.ReferrerID
		case events.TypePurchaseCompleted:
			if f := first[ev.CustomerID]; f == nil || refOrder(ev, f) < 0 {
				first[ev.CustomerID] = ev
			}
		}
	}
	count := map[string]int64{}
	for _, f := range first {
		if code := f.Purchase.ReferralCode; code != "" && w.in(f.OccurredAt, now) {
			r, ok := referrer[code]
			if !ok {
				r = "unknown"
			}
			count[r]++
		}
	}
	out := []api.Advocate{}
	for r, n := range count {
		out = append(out, api.Advocate{ReferrerID: r, Conversions: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Conversions != out[j].Conversions {
			return out[i].Conversions > out[j].Conversions
		}
		return out[i].ReferrerID < out[j].ReferrerID
	})
	return out
}

// waitDeadLetters waits until n dead letters (by distinct source) are on
// cx.deadletter, requires exactly n, and returns their reasons by source.
func waitDeadLetters(t *testing.T, broker string, n int) map[string]string {
	t.Helper()
	var got map[string]string
	require.Eventually(t, func() bool {
		got = deadLetterSources(t, broker)
		return len(got) >= n
	}, 60*time.Second, 100*time.Millisecond, "waiting for %d dead letters", n)
	require.Len(t, got, n, "dead letters")
	return got
}

// TestCommerceWorkedExample is the worked example of docs/metrics.md: eight
// customers of store s1, every 30d commerce stat worked out by hand.
func TestCommerceWorkedExample(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	_, broker := testenv.Kafka(t, 2, allTopics...)
	_, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}, newClock(now))
	n := 0
	ev := func(typ events.Type, customer, day string) events.Event {
		n++
		at, err := time.Parse(time.RFC3339, "2026-"+day+"T10:00:00Z")
		require.NoError(t, err)
		return events.Event{ID: fmt.Sprintf("w-%d", n), Type: typ, Tenant: "acme", OccurredAt: at, CustomerID: customer,
			Dims: map[string]string{"store": "s1"}}
	}
	buy := func(customer, day string, amount float64, code string) msg {
		e := ev(events.TypePurchaseCompleted, customer, day)
		e.Purchase = &events.Purchase{OrderID: "o-" + e.ID, Amount: amount, ReferralCode: code}
		return eventMsg(e)
	}
	refund := ev(events.TypePurchaseRefunded, "fay", "11-16")
	refund.Purchase = &events.Purchase{OrderID: "o-fay", Amount: 25}
	sent := ev(events.TypeReferralSent, "ann", "10-30")
	sent.Referral = &events.Referral{Code: "ANN1", ReferrerID: "ann"}
	produce(t, broker, []msg{
		buy("ann", "09-01", 100, ""), buy("ann", "11-10", 50, ""), eventMsg(sent),
		buy("bob", "11-01", 80, "ANN1"),
		buy("cat", "07-01", 40, ""),
		buy("dan", "08-10", 60, ""), buy("dan", "10-20", 30, ""), eventMsg(ev(events.TypeSubscriptionCancelled, "dan", "11-05")),
		buy("eve", "08-01", 20, ""),
		buy("fay", "11-15", 25, ""), eventMsg(refund), eventMsg(ev(events.TypeSubscriptionCancelled, "fay", "11-18")),
		buy("gus", "11-20", 45, "NOPE"),
		buy("hal", "11-12", 10, ""),
	})
	waitApplied(t, in.base)
	produce(t, broker, []msg{buy("hal", "10-01", 15, "")}) // hal's earliest purchase, last
	waitApplied(t, in.base)

	var got struct {
		Windows map[string]map[string]float64 `json:"windows"`
	}
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/scores?scope=store=s1", &got))
	// The 30d window holds the buckets from 2026-10-24 00:00 on.
	want := map[string]float64{
		"purchases": 5, "refunds": 1, "revenue": 185, "atv": 42, // ann 50, bob 80, fay 25, gus 45, hal 10
		"customers_purchasing": 5, "customers_new": 3, "repeat_purchase_rate": 40, // new: bob, fay, gus
		"referrals_sent": 1, "referral_conversions": 2, "referral_conversion_rate": 200, "referral_new_customer_share": 200.0 / 3,
		"customers_active": 4, "customers_activated": 3, "losses": 3, // active: ann, bob, gus, hal; activated: bob, fay, gus; lost: dan, eve, fay
		"customers_at_start": 4, "customers_retained": 2, "customers_lost": 2, // at start: ann, dan, eve, hal; retained: ann, hal
		"churn_rate": 50, "retention_rate": 50, "clv": 84, // 42 × 5/5 × 4/2
	}
	for stat, v := range want {
		require.InDelta(t, v, got.Windows["30d"][stat], 1e-9, stat)
	}
	var adv api.AdvocateList
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/advocates?window=30d", &adv))
	require.Equal(t, []api.Advocate{{ReferrerID: "ann", Conversions: 1}, {ReferrerID: "unknown", Conversions: 1}}, adv.Advocates)
}

// commerceStream generates TestCommerceExact's purchase history of acme
// and initech: the messages older than the largest window, the recent
// ones (with repeats), revisions of purchases (moved in time and store),
// and the earliest purchase of a customer, held back to arrive last.
func commerceStream(t *testing.T, rng *rand.Rand, now time.Time) (older, recent, revisions, last []msg) {
	t.Helper()
	day := 24 * time.Hour
	for _, tenant := range []string{"acme", "initech"} {
		s := &shop{rng: rng, tenant: tenant, now: now}
		evs := s.history(map[string]int{"acme": 300, "initech": 100}[tenant], 190*day)
		// Customers whose first purchase is forgotten within the next 30
		// days while they stay (initech) or come back (acme): neither may
		// count as new again.
		p1 := s.event(events.TypePurchaseCompleted, "old-1", now.Add(-170*day), 3)
		p1.Purchase = &events.Purchase{OrderID: "o-old-1", Amount: 12, ReferralCode: "NEVER-SENT-old"}
		evs = append(evs, p1)
		// Purchases from before every calendar period kept: too late.
		for k := range 3 {
			p := s.event(events.TypePurchaseCompleted, fmt.Sprintf("gone-%d", k), now.AddDate(-2, 0, -k), 1)
			p.Purchase = &events.Purchase{OrderID: fmt.Sprintf("o-gone-%d", k), Amount: 5}
			evs = append(evs, p)
		}
		if tenant == "acme" {
			p2 := s.event(events.TypePurchaseCompleted, "old-1", now.Add(-20*day), 3)
			p2.Purchase = &events.Purchase{OrderID: "o-old-2", Amount: 8}
			evs = append(evs, p2)
		}
		// The customer whose earliest purchase arrives last.
		var held *events.Event
		for i, ev := range evs {
			if ev.CustomerID == "k000" && ev.Type == events.TypePurchaseCompleted {
				held = &evs[i]
				break
			}
		}
		require.NotNil(t, held)
		heldEv := *held
		p := *heldEv.Purchase
		p.ReferralCode = s.codes[0]
		heldEv.Purchase = &p
		last = append(last, eventMsg(heldEv))
		for _, ev := range evs {
			if ev.ID == heldEv.ID {
				continue
			}
			m := eventMsg(ev)
			if now.Sub(ev.OccurredAt) > 90*day {
				older = append(older, m)
			} else {
				recent = append(recent, m)
			}
			if rng.IntN(20) == 0 {
				recent = append(recent, m) // a repeat
			}
		}
		// Revisions: purchases moved in time and to another store.
		for range 30 {
			ev := evs[rng.IntN(len(evs))]
			if ev.Type != events.TypePurchaseCompleted || ev.ID == heldEv.ID {
				continue
			}
			ev.Revision = 1
			ev.OccurredAt = now.Add(-time.Duration(rng.Int64N(int64(60 * day)))).Truncate(time.Millisecond)
			ev.Dims = s.dims(rng.IntN(12))
			p := *ev.Purchase
			p.Amount += 1.25
			ev.Purchase = &p
			revisions = append(revisions, eventMsg(ev))
		}
	}
	return older, recent, revisions, last
}
