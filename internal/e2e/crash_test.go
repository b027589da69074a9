package e2e

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/api"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/internal/testseed"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// process is the aggregator binary running as a child process.
type process struct {
	cmd  *exec.Cmd
	base string
	port int
	log  string        // path of its log file
	done chan struct{} // closed once it has exited
}

func buildAggregator(t *testing.T) string {
	t.Helper()
	return buildCommand(t, "aggregator")
}

// buildCommand builds the binary of cmd/<name>.
func buildCommand(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("go", "build", "-o", bin, "github.com/cxpulse/cxpulse/cmd/"+name).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

func startProcess(t *testing.T, bin, name string, env []string) *process {
	t.Helper()
	p, ok := tryStartProcess(t, bin, name, env, testenv.FreePort(t))
	require.True(t, ok, "%s did not start; log in %s", name, p.log)
	return p
}

// tryStartProcess starts the binary on port and waits for it to answer;
// false when it exits or does not answer in time.
func tryStartProcess(t *testing.T, bin, name string, env []string, port int) (*process, bool) {
	t.Helper()
	log, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	require.NoError(t, err)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), append(env, fmt.Sprintf("CXPULSE_HTTP_ADDR=127.0.0.1:%d", port))...)
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	p := &process{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), port: port, log: log.Name()}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	p.done = exited
	t.Cleanup(func() {
		p.kill()
		if t.Failed() { // the end of its log, to see why
			b, _ := os.ReadFile(log.Name())
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			t.Logf("last lines of %s:\n%s", name, strings.Join(lines[max(0, len(lines)-25):], "\n"))
		}
	})
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			return p, false
		default:
		}
		resp, err := http.Get(p.base + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			return p, true
		}
	}
	return p, false
}

func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// TestCrashSafety SIGKILLs the aggregator at random instants while 100k
// events stream in, restarting it each time, then runs two instances and
// kills one (a rebalance). At the end every count must equal the
// reference: not one event lost, not one counted twice.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the aggregator for about a minute")
	}
	seed := testseed.New(t)
	rng := rand.New(rand.NewPCG(seed, 9))
	bin := buildAggregator(t)
	_, broker := testenv.Kafka(t, 6, allTopics...)
	_, redisAddr := testenv.Redis(t)
	env := []string{
		"CXPULSE_KAFKA_BROKERS=" + broker, "CXPULSE_REDIS_URL=redis://" + redisAddr,
		"CXPULSE_INSECURE_NO_AUTH=1", "CXPULSE_GROUP_ID=crash", "CXPULSE_LOG_FORMAT=json",
	}

	// 100k events, 0–20 minutes old, with 3% exact repeats.
	start := time.Now()
	g := &generator{rng: rng, now: start}
	var msgs []msg
	for len(msgs) < 100_000 {
		ev := g.event([]string{"acme", "globex", "initech"}[rng.IntN(3)])
		ev.OccurredAt = start.Add(-time.Duration(rng.Int64N(int64(20 * time.Minute)))).Truncate(time.Millisecond)
		msgs = append(msgs, eventMsg(ev))
		if rng.IntN(33) == 0 {
			msgs = append(msgs, eventMsg(ev))
		}
	}
	// 6k events within 36 hours of the start of this month (UTC, the
	// tenants' calendar): the kills fall in a stream that spans a month
	// boundary, which the periods must come out of exactly.
	monthStart := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC)
	for range 6000 {
		ev := g.event([]string{"acme", "globex", "initech"}[rng.IntN(3)])
		at := monthStart.Add(time.Duration(rng.Int64N(int64(72*time.Hour))) - 36*time.Hour)
		if at.After(start) {
			at = start.Add(-time.Minute)
		}
		ev.OccurredAt = at.Truncate(time.Millisecond)
		msgs = slices.Insert(msgs, rng.IntN(len(msgs)+1), eventMsg(ev))
	}
	// A purchase history of 150 customers over 80 days, mixed in: its
	// customer records, activity spells and conversions must come out
	// exactly once too.
	shopEvs := (&shop{rng: rng, tenant: "acme", now: start}).history(150, 80*24*time.Hour)
	for _, ev := range shopEvs {
		i := rng.IntN(len(msgs) + 1)
		msgs = slices.Insert(msgs, i, eventMsg(ev))
	}
	t.Logf("%d purchase-topic events", len(shopEvs))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // stream them over about 25 s
		defer wg.Done()
		for i := 0; i < len(msgs); i += 2000 {
			produce(t, broker, msgs[i:min(i+2000, len(msgs))])
			time.Sleep(500 * time.Millisecond)
		}
	}()

	p := startProcess(t, bin, "a1", env)
	kills := 0
	for i := 2; i <= 4; i++ {
		time.Sleep(time.Duration(1500+rng.IntN(4000)) * time.Millisecond)
		p.kill()
		kills++
		p = startProcess(t, bin, fmt.Sprintf("a%d", i), env)
	}
	// A second member joins; then the first is killed mid-run and the
	// group rebalances onto the second.
	second := startProcess(t, bin, "b1", env)
	time.Sleep(time.Duration(12000+rng.IntN(4000)) * time.Millisecond)
	p.kill()
	kills++
	killedAt := time.Now()
	wg.Wait()
	waitApplied(t, second.base)
	t.Logf("%d messages, %d kills; last kill to lag 0: %s (session timeout included)", len(msgs), kills, time.Since(killedAt).Round(100*time.Millisecond))

	now := time.Now()
	final, bad := reference(msgs, now)
	require.Empty(t, bad)
	checkDeadLetters(t, broker, map[string]string{}) // none, through every kill
	for _, tenant := range []string{"acme", "globex", "initech"} {
		want := expected(final[tenant], now, func(ev *events.Event) []string {
			if ev.Dims["store"] == "" {
				return []string{"all"}
			}
			return []string{"all", "store=" + ev.Dims["store"]}
		})
		checkScores(t, second.base, tenant, want)
		// The month before this one and this month so far, as calendar
		// periods.
		for period, bounds := range map[string][2]time.Time{"last_month": {monthStart.AddDate(0, -1, 0), monthStart}, "mtd": {monthStart, monthStart.AddDate(0, 1, 0)}} {
			var ans api.PeriodAnswer
			require.Equal(t, http.StatusOK, getJSON(t, second.base+"/v1/tenants/"+tenant+"/periods?period="+period, &ans))
			wantP := refPeriodStats(final[tenant], "all", bounds[0], bounds[1])
			for stat, v := range wantP {
				if refInexact[stat] {
					require.InDelta(t, v, ans.Stats[stat], 1e-9*math.Max(1, math.Abs(v)), "%s %s %s", tenant, period, stat)
				} else {
					require.Equal(t, v, ans.Stats[stat], "%s %s %s", tenant, period, stat)
				}
			}
		}
	}
	_ = context.Background
}
