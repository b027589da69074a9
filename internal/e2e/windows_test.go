package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/cxpulse/cxpulse/internal/aggregate"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// TestWindowAddedToKeptState: 50 detractors a day old and 50 a hundred
// days old are kept with the default windows; a start with 180d added is
// refused, naming the window, the tenant and the way on; a start with
// CXPULSE_ON_WINDOWS_CHANGE=rebuild rebuilds the tenant, and once every
// answer is revised to a 10 the 180d window holds 100 answers, 100
// promoters and no detractor (without the rule: 0, 50 and −50).
func TestWindowAddedToKeptState(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clk := newClock(now)
	_, broker := testenv.Kafka(t, 2, allTopics...)
	_, addr := testenv.Redis(t)
	env := func(extra ...string) map[string]string {
		e := map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}
		for i := 0; i < len(extra); i += 2 {
			e[extra[i]] = extra[i+1]
		}
		return e
	}
	answers := func(rev int64, score int) []msg {
		var out []msg
		for i := range 100 {
			at := now.Add(-24 * time.Hour)
			if i%2 == 1 {
				at = now.Add(-100 * 24 * time.Hour)
			}
			ev := survey(fmt.Sprintf("a-%d", i), "acme", "s1", score, at)
			ev.Revision = rev
			out = append(out, eventMsg(ev))
		}
		return out
	}
	first := startAggregator(t, env(), clk)
	produce(t, broker, answers(0, 2))
	waitApplied(t, first.base)
	first.stop()

	longer := env("CXPULSE_WINDOWS", "1h,24h,7d,30d,90d,180d", "CXPULSE_HTTP_ADDR", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		"CXPULSE_INSECURE_NO_AUTH", "1")
	cfg, err := load(t, longer)
	require.NoError(t, err)
	refused, err := aggregate.New(cfg, zaptest.NewLogger(t), aggregate.WithClock(clk.now))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err = refused.Run(ctx)
	require.ErrorContains(t, err, "CXPULSE_WINDOWS: 180d is new to the state of 1 tenants (acme)")
	require.ErrorContains(t, err, "CXPULSE_ON_WINDOWS_CHANGE=rebuild")
	require.ErrorContains(t, err, "cxpulse rebuild")

	delete(longer, "CXPULSE_HTTP_ADDR")
	delete(longer, "CXPULSE_INSECURE_NO_AUTH")
	longer["CXPULSE_ON_WINDOWS_CHANGE"] = "rebuild"
	second := startAggregator(t, longer, clk)
	get := func() scores.Scores { // empty until the rebuild wrote the view
		var s scores.Scores
		_ = getJSON(t, second.base+"/v1/tenants/acme/scores", &s)
		return s
	}
	require.Eventually(t, func() bool { return get().Windows["180d"]["nps_detractors"] == 100 }, 30*time.Second, 100*time.Millisecond,
		"the rebuild fills 180d")
	produce(t, broker, answers(1, 10))
	waitApplied(t, second.base)
	require.Eventually(t, func() bool { return get().Windows["180d"]["nps_promoters"] == 100 }, 30*time.Second, 100*time.Millisecond)
	got := get()
	for w, want := range map[string][3]float64{"180d": {100, 100, 0}, "90d": {50, 50, 0}, "24h": {0, 0, 0}, "7d": {50, 50, 0}} {
		require.Equal(t, want, [3]float64{got.Windows[w]["nps_responses"], got.Windows[w]["nps_promoters"], got.Windows[w]["nps_detractors"]}, w)
	}
}

// TestOtherCounterLayoutRefused: a tenant whose state keeps its counters
// in another layout than this version's is not read as if it did.
func TestOtherCounterLayoutRefused(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clk := newClock(now)
	_, broker := testenv.Kafka(t, 1, allTopics...)
	rdb, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}, clk)
	produce(t, broker, surveys("acme", "l", 3, now.Add(-time.Minute)))
	waitApplied(t, in.base)
	in.stop()
	require.Equal(t, "1", rdb.HGet(t.Context(), "cxpulse:{acme}:wm", "layout").Val(), "the layout is recorded")
	require.NoError(t, rdb.HSet(t.Context(), "cxpulse:{acme}:wm", "layout", "0").Err())
	cfg, err := load(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_HTTP_ADDR": fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), "CXPULSE_INSECURE_NO_AUTH": "1"})
	require.NoError(t, err)
	a, err := aggregate.New(cfg, zaptest.NewLogger(t), aggregate.WithClock(clk.now))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	require.ErrorContains(t, a.Run(ctx), "the state of 1 tenants (acme) keeps its counters in another layout than this version's (1)")
}
