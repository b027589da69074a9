package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/api"
	"github.com/cxpulse/cxpulse/internal/auth"
	"github.com/cxpulse/cxpulse/internal/erasure"
	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/internal/testseed"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// The customer erased in the tests, and words only their comments use.
const (
	victim      = "vic-4242"
	victimWord1 = "xylophonic"
	victimWord2 = "quibbleware"
)

// erasureHistory is a tenant's traffic around a month boundary: a
// generated purchase history of many customers, their survey answers
// (some with comments) and tickets, and the victim's own events: surveys
// with comments, tickets, purchases (one older than every window but in
// the customer history and the year), a refund, a cancellation, a
// referral another customer converted, and an answer only the year holds.
func erasureHistory(rng *rand.Rand, now time.Time) []events.Event {
	day := 24 * time.Hour
	s := &shop{rng: rng, tenant: "acme", now: now}
	evs := s.history(150, 45*day)
	customers := map[string]bool{}
	for _, ev := range evs {
		customers[ev.CustomerID] = true
	}
	words := []string{"slow delivery", "rude staff", "great coffee", "broken app", "late refund"}
	metrics := []struct {
		m   events.Metric
		max int
	}{{events.MetricNPS, 10}, {events.MetricCSAT, 5}, {events.MetricCES, 7}}
	survey := func(customer string, at time.Time, store int) events.Event {
		e := s.event(events.TypeSurveyResponse, customer, at, store)
		m := metrics[rng.IntN(3)]
		score := rng.IntN(m.max + 1)
		if m.m != events.MetricNPS {
			score = 1 + rng.IntN(m.max)
		}
		e.Survey = &events.Survey{Metric: m.m, Score: score}
		if rng.IntN(3) == 0 {
			e.Survey.Comment = words[rng.IntN(len(words))]
		}
		return e
	}
	for c := range customers {
		for range 1 + rng.IntN(3) {
			evs = append(evs, survey(c, now.Add(-time.Duration(rng.Int64N(int64(40*day)))), rng.IntN(12)))
		}
	}
	for range 200 {
		evs = append(evs, survey("", now.Add(-time.Duration(rng.Int64N(int64(40*day)))), rng.IntN(12)))
	}
	at := func(s string) time.Time { return utc(s) }
	buy := func(id string, when time.Time, store int, amount float64, code string) events.Event {
		e := s.event(events.TypePurchaseCompleted, victim, when, store)
		e.ID = id
		e.Purchase = &events.Purchase{OrderID: "o-" + id, Amount: amount, ReferralCode: code}
		return e
	}
	v := []events.Event{
		buy("v-p0", at("2026-06-10T09:00:00Z"), 3, 19.5, ""),
		buy("v-p1", at("2026-11-20T10:00:00Z"), 3, 120, ""),
		buy("v-p2", at("2026-11-29T16:30:00Z"), 5, 42.25, ""),
		buy("v-p3", at("2026-12-01T08:00:00Z"), 3, 15, ""),
	}
	refund := s.event(events.TypePurchaseRefunded, victim, at("2026-12-01T12:00:00Z"), 3)
	refund.ID, refund.Purchase = "v-r1", &events.Purchase{OrderID: "o-v-p3", Amount: 15}
	sent := s.event(events.TypeReferralSent, victim, at("2026-11-21T09:00:00Z"), 3)
	sent.ID, sent.Referral = "v-ref", &events.Referral{Code: "VIC-CODE", ReferrerID: victim}
	cancel := s.event(events.TypeSubscriptionCancelled, victim, at("2026-12-02T18:00:00Z"), 5)
	cancel.ID = "v-x1"
	answers := []events.Event{
		s.event(events.TypeSurveyResponse, victim, at("2026-12-03T10:00:00Z"), 3),
		s.event(events.TypeSurveyResponse, victim, at("2026-11-30T22:00:00Z"), 5),
		s.event(events.TypeSurveyResponse, victim, at("2026-03-01T12:00:00Z"), 3), // in the year only
	}
	answers[0].ID, answers[0].Survey = "v-s1", &events.Survey{Metric: events.MetricNPS, Score: 1,
		Comment: "The " + victimWord1 + " checkout is " + victimWord2}
	answers[1].ID, answers[1].Survey = "v-s2", &events.Survey{Metric: events.MetricCSAT, Score: 2, Comment: victimWord2 + " again"}
	answers[2].ID, answers[2].Survey = "v-s3", &events.Survey{Metric: events.MetricNPS, Score: 4}
	opened := s.event(events.TypeTicketOpened, victim, at("2026-12-02T09:00:00Z"), 3)
	opened.ID, opened.Ticket = "v-t1", &events.Ticket{TicketID: "T-V"}
	resolved := s.event(events.TypeTicketResolved, victim, at("2026-12-02T15:00:00Z"), 3)
	resolved.ID, resolved.Ticket = "v-t2", &events.Ticket{TicketID: "T-V", FirstResponseSeconds: ptr(600.0), HandleSeconds: ptr(3600.0)}
	// A new customer converted by the victim's code.
	friend := s.event(events.TypePurchaseCompleted, "friend-1", at("2026-11-25T11:00:00Z"), 7)
	friend.Purchase = &events.Purchase{OrderID: "o-friend", Amount: 60, ReferralCode: "VIC-CODE"}
	v = append(v, refund, sent, cancel, opened, resolved, friend)
	return append(append(evs, v...), answers...)
}

func ptr[T any](v T) *T { return &v }

// withoutCustomer returns the final events but the customer's.
func withoutCustomer(final map[string]*events.Event, customer string) map[string]*events.Event {
	out := map[string]*events.Event{}
	for id, ev := range final {
		if ev.CustomerID != customer {
			out[id] = ev
		}
	}
	return out
}

// erasureScopes are the scopes of the erasure tests' events.
func erasureScopes(ev *events.Event) []string {
	return []string{"all", "store=" + ev.Dims["store"], "region=" + ev.Dims["region"], "channel=" + ev.Dims["channel"]}
}

// erasureRun is an aggregator that applied erasureHistory.
type erasureRun struct {
	in     *instance
	rdb    *redis.Client
	broker string
	addr   string
	clk    *clock
	msgs   []msg
	final  map[string]*events.Event // acme's counted events
}

// runErasureHistory starts an aggregator at now (with env besides Kafka
// and Redis), sends it erasureHistory from the seed's stream in a shuffled
// order and waits until it applied everything.
func runErasureHistory(t *testing.T, now time.Time, stream uint64, env map[string]string) *erasureRun {
	t.Helper()
	seed := testseed.New(t)
	rng := rand.New(rand.NewPCG(seed, stream))
	r := &erasureRun{clk: newClock(now)}
	_, r.broker = testenv.Kafka(t, 4, allTopics...)
	r.rdb, r.addr = testenv.Redis(t)
	env["CXPULSE_KAFKA_BROKERS"], env["CXPULSE_REDIS_URL"] = r.broker, "redis://"+r.addr
	r.in = startAggregator(t, env, r.clk)
	for _, ev := range erasureHistory(rng, now) {
		r.msgs = append(r.msgs, eventMsg(ev))
	}
	rng.Shuffle(len(r.msgs), func(i, j int) { r.msgs[i], r.msgs[j] = r.msgs[j], r.msgs[i] })
	produce(t, r.broker, r.msgs)
	waitApplied(t, r.in.base)
	final, _ := reference(r.msgs, now)
	r.final = final["acme"]
	return r
}

// TestEraseCustomerExactly erases a customer among hundreds and checks
// that every stat of every scope and window, the calendar periods and the
// advocates equal a reference computed without them, that no Redis key or
// value holds their id or their comment words, that the receipt says what
// changed, that erasing again answers the first receipt, and that neither
// their events sent again nor a rebuild brings them back.
func TestEraseCustomerExactly(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 30, 0, time.UTC)
	run := runErasureHistory(t, now, 17, map[string]string{})
	in, rdb, broker, addr, clk, msgs, acme := run.in, run.rdb, run.broker, run.addr, run.clk, run.msgs, run.final
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys(t, keys, fmt.Sprintf("keys:\n- {tenant: acme, sha256: %s, scopes: [erase]}\n- {tenant: acme, sha256: %s, scopes: [read, write]}\n",
		auth.Digest("eraser"), auth.Digest("reader")))
	secured := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_API_KEYS_FILE": keys}, clk)
	var victims int
	for _, ev := range acme {
		if ev.CustomerID == victim {
			victims++
		}
	}
	require.Equal(t, 12, victims, "the victim's events all count")
	c := refCal{time.UTC, false, time.Monday}
	periods := []refPeriod{c.month(2026, 11), c.month(2026, 12), c.month(2026, 6), c.month(2026, 3), c.year(2026),
		c.day(utc("2026-12-03T10:00:00Z")), c.week(utc("2026-11-30T22:00:00Z")), c.quarter(2026, 4)}
	check := func(final map[string]*events.Event) {
		t.Helper()
		checkAllScores(t, in.base, "acme", expected(final, now, erasureScopes))
		for _, p := range periods {
			for _, scope := range []string{"all", "store=s03", "store=s05"} {
				var ans struct{ Stats map[string]float64 }
				require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/periods?scope="+scope+"&period="+p.name, &ans), p.name)
				for stat, v := range refPeriodStats(final, scope, p.from, p.to) {
					require.InDelta(t, v, ans.Stats[stat], 1e-9*max(1, v), "%s %s %s", scope, p.name, stat)
				}
			}
		}
		for _, w := range refWindows {
			var got api.AdvocateList
			require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/advocates?limit=1000&window="+w.name, &got))
			require.Equal(t, refAdvocates(final, w, now), got.Advocates, "advocates in %s", w.name)
		}
	}
	check(acme)
	require.NotEmpty(t, redisHolds(t, rdb, victim), "the victim is in Redis before the erasure")
	require.NotEmpty(t, redisHolds(t, rdb, victimWord1))
	// An alert sent earlier today quoted the victim's comment and words
	// next to another customer's.
	victimComment := "The " + victimWord1 + " checkout is " + victimWord2
	quoted := alerts.Alert{Fingerprint: "f00d", Labels: alerts.Labels("acme", "all", alerts.Warning), State: alerts.Resolved,
		ActiveAt: now.Add(-3 * time.Hour), StartsAt: now.Add(-3 * time.Hour), EndsAt: now.Add(-time.Hour), LastAbove: now.Add(-2 * time.Hour),
		SentResolved: true, Annotations: map[string]string{"comment_1": victimComment, "comment_2": "slow delivery", "n_detractors": "7",
			"top_terms": fmt.Sprintf(`[{"term":%q,"z":4,"count":3},{"term":"slow","z":3,"count":3}]`, victimWord1),
			"summary":   "Detractor share at all of acme is 40.0% over 24h, baseline 10.0%; detractors mention " + victimWord1 + ", slow"}}
	b, err := json.Marshal(&quoted)
	require.NoError(t, err)
	require.NoError(t, rdb.HSet(t.Context(), "cxpulse:{acme}:alerts", "f00d", b).Err())
	// Its notification still waits for a sink that is down.
	queued := alerts.Notification{Status: alerts.Firing, Labels: quoted.Labels, Annotations: quoted.Annotations, StartsAt: quoted.StartsAt,
		EndsAt: quoted.EndsAt, Fingerprint: "f00d"}
	nb, err := json.Marshal(&queued)
	require.NoError(t, err)
	require.NoError(t, rdb.RPush(t.Context(), "cxpulse:{acme}:sinkq:pagerduty", `{"status":"firing","fingerprint":"other"}`, nb).Err())

	var victimIDs []string
	for id, ev := range acme {
		if ev.CustomerID == victim {
			victimIDs = append(victimIDs, id)
		}
	}
	held := victimHoldings(t, rdb, "acme", victim, victimIDs)
	require.GreaterOrEqual(t, held, 12+1+1, "their remembered ids, referral code and record at least")

	// A read key may not erase; an erase key of the tenant may.
	var rec erasure.Receipt
	require.Equal(t, http.StatusForbidden, requestJSON(t, http.MethodDelete, secured.base+"/v1/tenants/acme/customers/"+victim, "reader", &rec))
	require.Equal(t, http.StatusUnauthorized, requestJSON(t, http.MethodDelete, secured.base+"/v1/tenants/acme/customers/"+victim, "", &rec))
	require.Equal(t, http.StatusOK, requestJSON(t, http.MethodDelete, secured.base+"/v1/tenants/acme/customers/"+victim, "eraser", &rec))
	js, err := json.Marshal(rec)
	require.NoError(t, err)
	t.Logf("receipt: %s", js)
	require.Equal(t, "acme", rec.Tenant)
	require.Equal(t, victim, rec.Customer)
	require.True(t, rec.ErasedAt.Equal(now), "erased at %s", rec.ErasedAt)
	require.Equal(t, 12, rec.EventsRetracted)
	require.False(t, rec.AlreadyErased)
	require.NotContains(t, rec.WindowsAndPeriodsChanged, "1h", "nothing of theirs in the last hour")
	for _, name := range []string{"24h", "7d", "30d", "90d", "day:2026-12-03", "day:2026-06-10", "month:2026-11", "month:2026-03",
		"quarter:2026-Q4", "year:2026", "week:2026-11-30"} {
		require.Contains(t, rec.WindowsAndPeriodsChanged, name)
	}
	// Every entry that named them: the index's events (12) and what Redis
	// held of them before the erasure, counted there.
	require.Equal(t, 12+held, rec.KeysRemoved)

	without := withoutCustomer(acme, victim)
	check(without)
	require.Empty(t, redisHolds(t, rdb, victim), "no key or value holds the victim's id")
	require.Empty(t, redisHolds(t, rdb, victimWord1), "no key or value holds the victim's words")
	require.Empty(t, redisHolds(t, rdb, victimWord2))
	contents := redisContents(t, rdb)
	strs := 0
	for _, vals := range contents {
		strs += 1 + len(vals)
	}
	t.Logf("Redis scan after the erasure: %d keys, %d names, fields, members and values; none holds %q, %q or %q", len(contents), strs,
		victim, victimWord1, victimWord2)
	var waiting alerts.Notification
	require.NoError(t, json.Unmarshal([]byte(rdb.LIndex(t.Context(), "cxpulse:{acme}:sinkq:pagerduty", 1).Val()), &waiting))
	require.Equal(t, map[string]string{"comment_2": "slow delivery", "n_detractors": "7", "top_terms": `[{"term":"slow","z":3,"count":3}]`,
		"summary": "Detractor share at all of acme is 40.0% over 24h, baseline 10.0%; detractors mention slow"}, waiting.Annotations,
		"the notification waiting for a sink is rewritten too")
	require.Equal(t, `{"status":"firing","fingerprint":"other"}`, rdb.LIndex(t.Context(), "cxpulse:{acme}:sinkq:pagerduty", 0).Val())
	var after alerts.Alert
	require.NoError(t, json.Unmarshal([]byte(rdb.HGet(t.Context(), "cxpulse:{acme}:alerts", "f00d").Val()), &after))
	require.Equal(t, map[string]string{"comment_2": "slow delivery", "n_detractors": "7", "top_terms": `[{"term":"slow","z":3,"count":3}]`,
		"summary": "Detractor share at all of acme is 40.0% over 24h, baseline 10.0%; detractors mention slow"}, after.Annotations)

	// Again: the first receipt, marked.
	var again erasure.Receipt
	require.Equal(t, http.StatusOK, requestJSON(t, http.MethodDelete, in.base+"/v1/tenants/acme/customers/"+victim, "", &again))
	require.True(t, again.AlreadyErased)
	again.AlreadyErased = false
	require.Equal(t, rec, again)
	// Nobody to erase: a receipt that retracted nothing.
	var none erasure.Receipt
	require.Equal(t, http.StatusOK, requestJSON(t, http.MethodDelete, in.base+"/v1/tenants/acme/customers/nobody-here", "", &none))
	require.Zero(t, none.EventsRetracted)
	require.Empty(t, none.WindowsAndPeriodsChanged)

	// The victim's events sent again (a replay, a producer's retry) are
	// dropped; so is a rebuild's re-reading of the topics.
	var theirs []msg
	for _, m := range msgs {
		if m.ev != nil && m.ev.CustomerID == victim {
			theirs = append(theirs, m)
		}
	}
	produce(t, broker, theirs)
	waitApplied(t, in.base)
	check(without)
	require.Empty(t, redisHolds(t, rdb, victim))
	rebuildTenant(t, rdb, broker, clk, "acme", nil)
	waitApplied(t, in.base)
	check(without)
	require.Empty(t, redisHolds(t, rdb, victim))
	require.Empty(t, redisHolds(t, rdb, victimWord1))

	// The erasures topic holds the keyed hash, never the id.
	for _, r := range testenv.Consume(t, broker, "cx.erasures", 2) {
		require.NotContains(t, string(r.Key)+string(r.Value), victim)
	}
}

// victimHoldings counts the Redis entries of tenant that name customer or
// their events (ids): remembered ids, referral codes, comment samples, the
// customer record and due time, active-set memberships and conversions.
func victimHoldings(t *testing.T, rdb *redis.Client, tenant, customer string, ids []string) int {
	t.Helper()
	ctx := t.Context()
	keysOf := func(pattern string) []string {
		ks, err := rdb.Keys(ctx, "cxpulse:{"+tenant+"}:"+pattern).Result()
		require.NoError(t, err)
		return ks
	}
	mine := map[string]bool{}
	for _, id := range ids {
		mine[id] = true
	}
	n := 0
	for _, k := range keysOf("ids:*") {
		vals, err := rdb.HMGet(ctx, k, ids...).Result()
		require.NoError(t, err)
		for _, v := range vals {
			if v != nil {
				n++
			}
		}
	}
	codes, err := rdb.HGetAll(ctx, "cxpulse:{"+tenant+"}:codes").Result()
	require.NoError(t, err)
	for _, referrer := range codes {
		if referrer == customer {
			n++
		}
	}
	for _, k := range keysOf("samples:*") {
		for _, v := range rdb.LRange(ctx, k, 0, -1).Val() {
			var smp struct{ ID string }
			require.NoError(t, json.Unmarshal([]byte(v), &smp))
			if mine[smp.ID] {
				n++
			}
		}
	}
	if rdb.HExists(ctx, "cxpulse:{"+tenant+"}:cust", customer).Val() {
		n++
	}
	for _, k := range append(keysOf("act:*"), "cxpulse:{"+tenant+"}:cdue") {
		if rdb.ZScore(ctx, k, customer).Err() == nil {
			n++
		}
	}
	for _, m := range rdb.ZRange(ctx, "cxpulse:{"+tenant+"}:conv", 0, -1).Val() {
		if strings.HasPrefix(m, customer+"\t") {
			n++
		}
	}
	return n
}

// redisTokens returns every token (a run of letters, digits, '-' and '_')
// of every key name and value in Redis, for checking that no id is left.
func redisTokens(t *testing.T, rdb *redis.Client) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, s := range redisStrings(t, rdb) {
		for _, tok := range strings.FieldsFunc(s, func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '_'
		}) {
			out[tok] = true
		}
	}
	return out
}

// TestEraseKilledMidway: `cxpulse erase` of many customers is killed
// (SIGKILL) after its first receipts. Each customer is erased whole or not
// at all: the scores equal the reference without exactly the customers
// whose erasure Redis records, and no key or value names those. Run
// again, it erases the rest and answers the first ones as already erased.
func TestEraseKilledMidway(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	run := runErasureHistory(t, now, 18, map[string]string{})
	in, rdb, broker, addr, acme := run.in, run.rdb, run.broker, run.addr, run.final
	var ids []string
	seen := map[string]bool{}
	for _, ev := range acme {
		if c := ev.CustomerID; c != "" && !seen[c] && c != "friend-1" {
			seen[c] = true
			ids = append(ids, c)
		}
	}
	sort.Strings(ids)
	require.Greater(t, len(ids), 100)
	file := filepath.Join(t.TempDir(), "erase.txt")
	require.NoError(t, os.WriteFile(file, []byte(strings.Join(ids, "\n")+"\n"), 0o600))

	bin := buildCommand(t, "cxpulse")
	vars := []string{"CXPULSE_KAFKA_BROKERS=" + broker, "CXPULSE_REDIS_URL=redis://" + addr}
	cmd := exec.Command(bin, "erase", "--tenant", "acme", "--file", file)
	cmd.Env = append(os.Environ(), vars...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := bufio.NewScanner(out)
	for range 3 {
		require.True(t, lines.Scan(), "a receipt before the kill")
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	key, err := rdb.Get(t.Context(), erasure.KeyKey).Result()
	require.NoError(t, err)
	h := erasure.NewHasher([]byte(key))
	erasedNow := func() map[string]bool {
		out := map[string]bool{}
		for _, id := range ids {
			if rdb.HExists(t.Context(), "cxpulse:{acme}:erased", h.Hash("acme", id)).Val() {
				out[id] = true
			}
		}
		return out
	}
	check := func(gone map[string]bool) {
		t.Helper()
		left := map[string]*events.Event{}
		for id, ev := range acme {
			if !gone[ev.CustomerID] {
				left[id] = ev
			}
		}
		checkScores(t, in.base, "acme", expected(left, now, erasureScopes))
		tokens := redisTokens(t, rdb)
		for id := range gone {
			require.False(t, tokens[id], "Redis still names erased customer %s", id)
		}
	}
	gone := erasedNow()
	t.Logf("killed after %d of %d erasures", len(gone), len(ids))
	require.GreaterOrEqual(t, len(gone), 3)
	require.Less(t, len(gone), len(ids), "the kill came before the end")
	check(gone)

	again := exec.Command(bin, "erase", "--tenant", "acme", "--file", file)
	again.Env = cmd.Env
	stdout, err := again.Output()
	require.NoError(t, err)
	var already int
	for _, line := range strings.Split(strings.TrimSpace(string(stdout)), "\n") {
		var rec erasure.Receipt
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		require.Equal(t, gone[rec.Customer], rec.AlreadyErased, rec.Customer)
		if rec.AlreadyErased {
			already++
		}
	}
	require.Equal(t, len(gone), already)
	all := erasedNow()
	require.Len(t, all, len(ids))
	check(all)
}

// TestErasureSurvivesStateLoss: Redis flushed under a running aggregator
// that rebuilds on state loss: the rebuild re-reads the topics and the
// erased customer does not come back (the instance puts back the erasures
// and the hash key Redis lost). Then the aggregator is stopped, Redis
// flushed again and a new one started: it restores the erasures from
// cx.erasures before it applies anything, and again they do not come back.
func TestErasureSurvivesStateLoss(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  string
	}{{"running instance, key kept in Redis", ""}, {"new instance, key configured", "a-configured-erasure-key"}} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 12, 3, 12, 0, 30, 0, time.UTC)
			env := func() map[string]string {
				return map[string]string{"CXPULSE_ON_STATE_LOSS": "rebuild", "CXPULSE_ERASURE_KEY": tc.key}
			}
			run := runErasureHistory(t, now, 19, env())
			in, rdb := run.in, run.rdb
			var rec erasure.Receipt
			require.Equal(t, http.StatusOK, requestJSON(t, http.MethodDelete, in.base+"/v1/tenants/acme/customers/"+victim, "", &rec))
			require.Equal(t, 12, rec.EventsRetracted)
			want := expected(withoutCustomer(run.final, victim), now, func(ev *events.Event) []string { return []string{"all"} })
			exp := want["all"]["90d"].stats()

			if tc.key != "" {
				in.stop()
			}
			require.NoError(t, rdb.FlushAll(t.Context()).Err())
			if tc.key != "" {
				e := env()
				e["CXPULSE_KAFKA_BROKERS"], e["CXPULSE_REDIS_URL"] = run.broker, "redis://"+run.addr
				in = startAggregator(t, e, run.clk)
			}
			require.Eventually(t, func() bool {
				var got scores.Scores
				return getJSON(t, in.base+"/v1/tenants/acme/scores?scope=all", &got) == http.StatusOK &&
					got.Windows["90d"]["nps_responses"] == exp["nps_responses"] && got.Windows["90d"]["csat_responses"] == exp["csat_responses"]
			}, 90*time.Second, 100*time.Millisecond, "the counts did not come back")
			waitApplied(t, in.base)
			checkScores(t, in.base, "acme", map[string]map[string]*refCounts{"all": want["all"]})
			require.Empty(t, redisHolds(t, rdb, victim))
			require.Empty(t, redisHolds(t, rdb, victimWord1))
			var again erasure.Receipt
			require.Equal(t, http.StatusOK, requestJSON(t, http.MethodDelete, in.base+"/v1/tenants/acme/customers/"+victim, "", &again))
			require.True(t, again.AlreadyErased, "the erasure is remembered")
			require.Equal(t, rec.EventsRetracted, again.EventsRetracted)
		})
	}
}

// TestErasePseudonymizedCustomer: a tenant that pseudonymizes customer ids
// is erased by the plain id; the erasure works out the pseudonym with the
// tenant's secret and retracts what the pseudonym's events counted.
func TestErasePseudonymizedCustomer(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secret, []byte("a-tenant-secret-of-some-length"), 0o600))
	tenantsFile := writeTenants(t, fmt.Sprintf("tenants:\n  acme: {pseudonymize_customer_ids: true, pseudonym_secret_file: %s}\n", secret))
	reg, err := tenants.Load(tenantsFile)
	require.NoError(t, err)
	acme, _ := reg.Get("acme")
	pseudonym := acme.Pseudonym("maria@example.com")
	require.NotEqual(t, "maria@example.com", pseudonym)
	now := time.Date(2026, 12, 3, 12, 0, 30, 0, time.UTC)
	_, broker := testenv.Kafka(t, 2, allTopics...)
	rdb, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_TENANTS_FILE": tenantsFile}, newClock(now))
	answer := func(id, customer string, score int) msg {
		return eventMsg(events.Event{ID: id, Type: events.TypeSurveyResponse, Tenant: "acme", OccurredAt: now.Add(-time.Hour),
			CustomerID: customer, Survey: &events.Survey{Metric: events.MetricNPS, Score: score}})
	}
	// As ingest writes them: the pseudonym, never the address.
	produce(t, broker, []msg{answer("a1", pseudonym, 2), answer("a2", pseudonym, 3), answer("a3", acme.Pseudonym("other"), 10)})
	waitApplied(t, in.base)
	var rec erasure.Receipt
	require.Equal(t, http.StatusOK, requestJSON(t, http.MethodDelete, in.base+"/v1/tenants/acme/customers/maria@example.com", "", &rec))
	require.Equal(t, 2, rec.EventsRetracted)
	var got scores.Scores
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/scores", &got))
	require.Equal(t, map[string]float64{"nps_responses": 1, "nps_promoters": 1, "nps_detractors": 0},
		map[string]float64{"nps_responses": got.Windows["24h"]["nps_responses"], "nps_promoters": got.Windows["24h"]["nps_promoters"],
			"nps_detractors": got.Windows["24h"]["nps_detractors"]})
	require.Empty(t, redisHolds(t, rdb, pseudonym))
}
