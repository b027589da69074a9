package e2e

import (
	"math/rand/v2"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/internal/testseed"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// TestStaleOwnerFenced: with routing by tenant, an aggregator paused
// (SIGSTOP) while a burst streams in, for longer than the session timeout,
// loses its partitions to a second one, which applies everything. Resumed
// (SIGCONT), the first goes on with what it had fetched under its old
// claim: those writes are refused (cxpulse_writes_fenced_total) and every
// count equals the reference.
func TestStaleOwnerFenced(t *testing.T) {
	if testing.Short() {
		t.Skip("pauses an aggregator past the session timeout")
	}
	rng := rand.New(rand.NewPCG(testseed.New(t), 47))
	bin := buildAggregator(t)
	_, broker := testenv.Kafka(t, 2, allTopics...)
	_, redisAddr := testenv.Redis(t)
	env := []string{"CXPULSE_KAFKA_BROKERS=" + broker, "CXPULSE_REDIS_URL=redis://" + redisAddr,
		"CXPULSE_INSECURE_NO_AUTH=1", "CXPULSE_GROUP_ID=owner", "CXPULSE_LOG_FORMAT=json", "CXPULSE_ROUTE_BY_TENANT=1"}
	// The services run on this machine's clock: only events whose windows
	// stay the same for the test's length are sent.
	start := time.Now()
	settled := func(at time.Time) bool {
		for _, w := range refWindows {
			if w.in(at, start) != w.in(at, start.Add(10*time.Minute)) {
				return false
			}
		}
		return at.Before(start.Add(-time.Minute)) && start.Sub(at) < 85*24*time.Hour
	}
	g := &generator{rng: rng, now: start}
	var msgs []msg
	for len(msgs) < 6000 {
		ev := g.event([]string{"acme", "globex"}[rng.IntN(2)])
		if settled(ev.OccurredAt) {
			msgs = append(msgs, eventMsg(ev))
		}
	}

	a := startProcess(t, bin, "a", env)
	waitClaim(t, a)
	produce(t, broker, msgs[:1000])
	waitApplied(t, a.base)
	go produce(t, broker, msgs[1000:4000])
	time.Sleep(time.Duration(50+rng.IntN(100)) * time.Millisecond)
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGSTOP))
	b := startProcess(t, bin, "b", env)
	produce(t, broker, msgs[4000:])
	waitApplied(t, b.base) // b took a's partitions once a's session ran out
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGCONT))
	require.Eventually(t, func() bool {
		v, ok := metricValue(t, a.base, "cxpulse_writes_fenced_total")
		n, err := strconv.ParseFloat(v, 64)
		return ok && err == nil && n > 0
	}, 30*time.Second, 50*time.Millisecond, "the paused owner's stale writes were not refused")
	waitApplied(t, b.base)

	final, _ := reference(msgs, start)
	scopesOf := func(ev *events.Event) []string { return []string{"all", "store=" + ev.Dims["store"]} }
	for _, tenant := range []string{"acme", "globex"} {
		checkScores(t, b.base, tenant, expected(final[tenant], start, scopesOf))
	}
}
