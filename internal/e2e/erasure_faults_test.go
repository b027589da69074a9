package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/erasure"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// answer is an NPS answer of customer at store s1 with a comment.
func answer(id, customer string, rev int64, score int, comment string, at time.Time) events.Event {
	return events.Event{ID: id, Revision: rev, Type: events.TypeSurveyResponse, Tenant: "acme", OccurredAt: at, CustomerID: customer,
		Dims: map[string]string{"store": "s1"}, Survey: &events.Survey{Metric: events.MetricNPS, Score: score, Comment: comment}}
}

// buy is a purchase of customer at store s1.
func buy(id, customer string, amount float64, at time.Time) events.Event {
	return events.Event{ID: id, Type: events.TypePurchaseCompleted, Tenant: "acme", OccurredAt: at, CustomerID: customer,
		Dims: map[string]string{"store": "s1"}, Purchase: &events.Purchase{OrderID: "o-" + id, Amount: amount}}
}

// acme24h returns acme's 24h figures of scope all.
func acme24h(t *testing.T, base string) map[string]float64 {
	t.Helper()
	var got scores.Scores
	require.Equal(t, http.StatusOK, getJSON(t, base+"/v1/tenants/acme/scores", &got))
	return got.Windows["24h"]
}

// erase erases customer of acme and returns the receipt.
func erase(t *testing.T, base, customer string) erasure.Receipt {
	t.Helper()
	var rec erasure.Receipt
	require.Equal(t, http.StatusOK, requestJSON(t, http.MethodDelete, base+"/v1/tenants/acme/customers/"+customer, "", &rec))
	return rec
}

// TestEraseEventsDatedAhead: a customer whose answer and purchase are
// dated four minutes ahead (device clock skew) is erased whole: those
// events are retracted, their comment leaves no word in Redis, and sending
// them again counts nothing. Back later with a new answer, the customer is
// erased again: the new erasure finds and removes it; a third finds
// nothing and answers the second receipt.
func TestEraseEventsDatedAhead(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clk := newClock(now)
	_, broker := testenv.Kafka(t, 2, allTopics...)
	rdb, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}, clk)
	ahead := now.Add(4 * time.Minute)
	theirs := []msg{eventMsg(answer("v-1", "vic-9", 0, 2, "zorblax shipping", ahead)), eventMsg(buy("v-2", "vic-9", 10, ahead)),
		eventMsg(answer("v-3", "vic-9", 0, 9, "", now.Add(-time.Hour)))}
	produce(t, broker, append(theirs, eventMsg(answer("o-1", "other", 0, 3, "late shipping", now.Add(-time.Hour))),
		eventMsg(buy("o-2", "other", 20, now.Add(-30*time.Minute)))))
	waitApplied(t, in.base)
	got := acme24h(t, in.base)
	require.EqualValues(t, 3, got["nps_responses"])
	require.EqualValues(t, 2, got["purchases"])
	require.NotEmpty(t, redisHolds(t, rdb, "zorblax"))

	rec := erase(t, in.base, "vic-9")
	require.Equal(t, 3, rec.EventsRetracted)
	require.False(t, rec.AlreadyErased)
	require.True(t, rec.ErasedAt.Equal(now))
	require.True(t, rec.CoversUntil.Equal(ahead), "covers until %s", rec.CoversUntil)
	after := func() {
		t.Helper()
		got := acme24h(t, in.base)
		require.EqualValues(t, 1, got["nps_responses"])
		require.EqualValues(t, 1, got["nps_detractors"])
		require.EqualValues(t, 1, got["purchases"])
		require.EqualValues(t, 20, got["revenue"])
		require.EqualValues(t, 1, got["customers_purchasing"])
		require.Empty(t, redisHolds(t, rdb, "vic-9"), "no key or value names the customer")
		require.Empty(t, redisHolds(t, rdb, "zorblax"), "no key or value holds their comment's words")
	}
	after()
	produce(t, broker, theirs) // sent again: dropped, the ones dated ahead too
	waitApplied(t, in.base)
	after()

	// Back ten minutes later: counted, then erased again.
	clk.add(10 * time.Minute)
	produce(t, broker, []msg{eventMsg(answer("v-4", "vic-9", 0, 1, "zorblax again", clk.now()))})
	waitApplied(t, in.base)
	require.EqualValues(t, 2, acme24h(t, in.base)["nps_responses"])
	second := erase(t, in.base, "vic-9")
	require.False(t, second.AlreadyErased, "something was found: a new erasure")
	require.Equal(t, 1, second.EventsRetracted)
	require.True(t, second.ErasedAt.Equal(clk.now()))
	after()
	fields, err := rdb.HKeys(t.Context(), "cxpulse:{acme}:erased").Result()
	require.NoError(t, err)
	require.Len(t, fields, 2, "the second receipt, and the first kept beside it")
	third := erase(t, in.base, "vic-9")
	require.True(t, third.AlreadyErased)
	third.AlreadyErased = false
	require.Equal(t, second, third)
}

// termCount returns the count of word in a theme bucket of scope all.
func termCount(t *testing.T, rdb *redis.Client, bucket, word string) string {
	t.Helper()
	v, err := rdb.HGet(t.Context(), "cxpulse:{acme}:terms:all:"+bucket, word).Result()
	if err == redis.Nil {
		return ""
	}
	require.NoError(t, err)
	return v
}

// TestEraseUnderCommentRetention: with comment_retention set, an erasure
// on the day after a detractor's comment removes its sample and its words
// from every theme bucket, leaving another customer's use of a shared word
// counted once; a revision's old comment leaves the samples and the theme
// words with it.
func TestEraseUnderCommentRetention(t *testing.T) {
	tenantsFile := writeTenants(t, "tenants:\n  acme: {comment_retention: 30d}\n")
	at := time.Date(2026, 11, 21, 16, 20, 0, 0, time.UTC)
	clk := newClock(at.Add(time.Hour))
	_, broker := testenv.Kafka(t, 2, allTopics...)
	rdb, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_TENANTS_FILE": tenantsFile}, clk)
	produce(t, broker, []msg{eventMsg(answer("v-1", "vic-9", 0, 1, "quixotic wombat", at)),
		eventMsg(answer("o-1", "other", 0, 2, "blorptastic wombat", at.Add(time.Minute)))})
	waitApplied(t, in.base)
	produce(t, broker, []msg{eventMsg(answer("o-1", "other", 1, 2, "wombat delay", at.Add(time.Minute)))})
	waitApplied(t, in.base)
	hour, day := fmt.Sprintf("h%d", at.Unix()/3600), fmt.Sprintf("d%d", at.Unix()/86400)
	require.Empty(t, redisHolds(t, rdb, "blorptastic"), "a revision's old comment leaves the samples and the theme words")
	for _, b := range []string{hour, day} {
		require.Equal(t, "2", termCount(t, rdb, b, "wombat"), b)
		require.Equal(t, "1", termCount(t, rdb, b, "quixotic"), b)
		require.Equal(t, "1", termCount(t, rdb, b, "delay"), b)
	}

	clk.set(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)) // the day after
	rec := erase(t, in.base, "vic-9")
	require.Equal(t, 1, rec.EventsRetracted)
	require.Empty(t, redisHolds(t, rdb, "vic-9"), "no key or value names the customer")
	require.Empty(t, redisHolds(t, rdb, "quixotic"), "no key or value holds their comment's words")
	for _, b := range []string{hour, day} {
		require.Equal(t, "1", termCount(t, rdb, b, "wombat"), "the other customer's use stays, once: %s", b)
		require.Equal(t, "1", termCount(t, rdb, b, "delay"), b)
	}
	samples, err := rdb.LRange(t.Context(), "cxpulse:{acme}:samples:all", 0, -1).Result()
	require.NoError(t, err)
	require.Len(t, samples, 1)
	require.Contains(t, samples[0], "wombat delay")

	// Past the retention, the words the erasure kept for the other
	// customer go with the day's theme buckets.
	for _, d := range []int{3, 32} { // sweeps run daily, at least
		clk.set(at.Add(time.Duration(d) * 24 * time.Hour))
		require.NoError(t, in.agg.SweepOnce(t.Context()))
	}
	require.Empty(t, redisHolds(t, rdb, "wombat"))
}
