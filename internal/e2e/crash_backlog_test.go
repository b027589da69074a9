package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/internal/testseed"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// TestCrashesDuringBacklog: a backlog of events of every age (duplicates,
// revisions, bad messages) is produced first; the aggregator is killed
// 1.5 s after its first partition claim and restarted at once on the same
// port, twice; then a second member joins and the first is killed. Every
// stat of every window of every scope must equal the reference. Each run
// takes a new seed for each of its rounds.
func TestCrashesDuringBacklog(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the aggregator for about two minutes")
	}
	bin := buildAggregator(t)
	base := testseed.New(t)
	for round := range 2 {
		seed := base + uint64(round)
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) { crashesDuringBacklog(t, bin, seed, round) })
	}
}

func crashesDuringBacklog(t *testing.T, bin string, seed uint64, round int) {
	rng := rand.New(rand.NewPCG(seed, 20))
	_, broker := testenv.Kafka(t, 6, allTopics...)
	_, redisAddr := testenv.Redis(t)
	env := []string{
		"CXPULSE_KAFKA_BROKERS=" + broker, "CXPULSE_REDIS_URL=redis://" + redisAddr,
		"CXPULSE_INSECURE_NO_AUTH=1", "CXPULSE_GROUP_ID=backlog", "CXPULSE_LOG_FORMAT=json",
	}
	// The test ends within a few minutes: no event's bucket may leave a
	// window meanwhile, or the comparison would race with the sweeper.
	start := time.Now()
	settled := func(at time.Time) bool {
		for _, w := range refWindows {
			if w.in(at, start) != w.in(at, start.Add(10*time.Minute)) {
				return false
			}
		}
		return at.Before(start)
	}
	g := &generator{rng: rng, now: start}
	var msgs []msg
	var sent []events.Event
	for len(msgs) < 100_000 {
		ev := g.event([]string{"acme", "globex"}[rng.IntN(2)])
		if !settled(ev.OccurredAt) {
			continue
		}
		sent = append(sent, ev)
		msgs = append(msgs, eventMsg(ev))
		switch rng.IntN(40) {
		case 0: // a repeat
			msgs = append(msgs, eventMsg(ev))
		case 1: // a revision, moving the event in time and store
			rev := ev
			rev.Revision++
			rev.Dims = map[string]string{"store": fmt.Sprintf("s%02d", rng.IntN(24)), "region": "eu", "channel": "web"}
			if at := start.Add(-time.Duration(rng.Int64N(int64(50 * time.Minute)))); settled(at) {
				rev.OccurredAt = at.Truncate(time.Millisecond)
			}
			msgs = append(msgs, eventMsg(rev))
		}
		if rng.IntN(2000) == 0 {
			msgs = append(msgs, msg{topic: "cx.surveys", key: []byte("acme/x"), value: []byte(`{"id":"broken",`)})
		}
	}
	sources := produce(t, broker, msgs)

	// Killed 1.5 s after its first claim, restarted at once on the same
	// port (or, if the killed one still holds it, on another), twice.
	p := startProcess(t, bin, fmt.Sprintf("r%d-a1", round), env)
	for i := 2; i <= 3; i++ {
		waitClaim(t, p)
		time.Sleep(1500 * time.Millisecond)
		p.kill()
		p = restartOn(t, bin, fmt.Sprintf("r%d-a%d", round, i), env, p)
	}
	waitClaim(t, p)
	second := startProcess(t, bin, fmt.Sprintf("r%d-b1", round), env)
	time.Sleep(time.Duration(1000+rng.IntN(3000)) * time.Millisecond)
	p.kill()
	waitApplied(t, second.base)

	now := time.Now()
	final, bad := reference(msgs, now)
	checkDeadLetters(t, broker, wantLetters(bad, sources))
	for _, tenant := range []string{"acme", "globex"} {
		want := expected(final[tenant], now, func(ev *events.Event) []string {
			out := []string{"all"}
			for _, d := range []string{"store", "region", "channel", "agent"} {
				if v := ev.Dims[d]; v != "" {
					out = append(out, d+"="+v)
				}
			}
			return out
		})
		checkScores(t, second.base, tenant, want)
	}
}

// waitClaim waits until p's log says it claimed a partition.
func waitClaim(t *testing.T, p *process) {
	t.Helper()
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(p.log)
		return err == nil && strings.Contains(string(b), "partition claimed")
	}, 60*time.Second, 20*time.Millisecond, "no partition claimed; log in %s", p.log)
}

// restartOn starts the binary again on the port of the killed process p,
// or on a new port when that start fails (the port still held).
func restartOn(t *testing.T, bin, name string, env []string, p *process) *process {
	t.Helper()
	if q, ok := tryStartProcess(t, bin, name, env, p.port); ok {
		return q
	}
	return startProcess(t, bin, name+"-again", env)
}
