package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
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
	"github.com/cxpulse/cxpulse/internal/auth"
	"github.com/cxpulse/cxpulse/internal/erasure"
	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

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
	check := func(final map[string]*events.Event) {
		t.Helper()
		checkErasedFigures(t, in.base, final, now)
	}
	check(acme)
	require.NotEmpty(t, redisHolds(t, rdb, victim), "the victim is in Redis before the erasure")
	require.NotEmpty(t, redisHolds(t, rdb, victimWord1))
	plantQuotedAlert(t, rdb, now)

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
