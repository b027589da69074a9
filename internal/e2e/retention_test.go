package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// redisHolds lists the keys whose name or value holds word, scanning every
// key of every type.
func redisHolds(t *testing.T, rdb *redis.Client, word string) []string {
	t.Helper()
	var found []string
	for key, vals := range redisContents(t, rdb) {
		for _, v := range append(vals, key) {
			if strings.Contains(v, word) {
				found = append(found, key)
				break
			}
		}
	}
	return found
}

// redisStrings returns every key name and every value (fields, members)
// in Redis.
func redisStrings(t *testing.T, rdb *redis.Client) []string {
	t.Helper()
	var out []string
	for key, vals := range redisContents(t, rdb) {
		out = append(append(out, key), vals...)
	}
	return out
}

// redisContents returns, per key, every string it holds (hash fields and
// values, list items, set and sorted-set members), scanning every key of
// every type.
func redisContents(t *testing.T, rdb *redis.Client) map[string][]string {
	t.Helper()
	ctx := context.Background()
	out := map[string][]string{}
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		var vals []string
		switch typ := rdb.Type(ctx, key).Val(); typ {
		case "string":
			vals = []string{rdb.Get(ctx, key).Val()}
		case "hash":
			for f, v := range rdb.HGetAll(ctx, key).Val() {
				vals = append(vals, f, v)
			}
		case "list":
			vals = rdb.LRange(ctx, key, 0, -1).Val()
		case "set":
			vals = rdb.SMembers(ctx, key).Val()
		case "zset":
			vals = rdb.ZRange(ctx, key, 0, -1).Val()
		case "none":
			continue // gone since the scan listed it
		default:
			t.Fatalf("key %s of type %s", key, typ)
		}
		out[key] = vals
	}
	require.NoError(t, iter.Err())
	return out
}

// TestCommentRetention: with comment_retention, a comment older than it
// leaves no text in Redis (no sample, no theme word), and a newer one is
// gone from every key once it ages past it.
func TestCommentRetention(t *testing.T) {
	tenantsFile := writeTenants(t, "tenants:\n  acme: {comment_retention: 2h}\n")
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clk := newClock(now)
	_, broker := testenv.Kafka(t, 2, allTopics...)
	rdb, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_TENANTS_FILE": tenantsFile}, clk)
	commentScored := func(id, text string, at time.Time, score int) msg {
		return eventMsg(events.Event{ID: id, Type: events.TypeSurveyResponse, Tenant: "acme", OccurredAt: at,
			Dims: map[string]string{"store": "s1"}, Survey: &events.Survey{Metric: events.MetricNPS, Score: score, Comment: text}})
	}
	comment := func(id, text string, at time.Time) msg { return commentScored(id, text, at, 2) }
	produce(t, broker, []msg{
		comment("fresh", "zanzibar refund never came", now.Add(-30*time.Minute)),
		comment("stale", "quokka checkout broken", now.Add(-3*time.Hour)),
		commentScored("praise", "wombat service, great", now.Add(-30*time.Minute), 10),
	})
	waitApplied(t, in.base)
	require.NotEmpty(t, redisHolds(t, rdb, "zanzibar"), "a comment within the retention gives a sample and theme words")
	require.NotEmpty(t, redisHolds(t, rdb, "wombat"), "a promoter's comment gives theme words (the rest of the respondents)")
	require.Empty(t, redisHolds(t, rdb, "quokka"), "a comment older than the retention leaves no text")

	// Two days on, the fresh comment is older than the retention too:
	// its sample, its hour and day theme buckets and its id record go.
	clk.set(now.Add(48 * time.Hour))
	require.NoError(t, in.agg.SweepOnce(t.Context()))
	require.Empty(t, redisHolds(t, rdb, "zanzibar"))
	require.Empty(t, redisHolds(t, rdb, "wombat"), "a promoter's words go with the retention too")
}
