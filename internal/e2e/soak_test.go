//go:build soak

package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/cxpulse/cxpulse/internal/aggregate"
	"github.com/cxpulse/cxpulse/internal/api"
	"github.com/cxpulse/cxpulse/internal/redisproc"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// TestSoak (make soak; not in CI): SOAK_DURATION (default 30m) of traffic
// for three tenants while random faults hit it: aggregator SIGKILL and
// SIGSTOP, the broker refusing every connection for a while (kfake keeps
// nothing across a real restart), Redis SIGSTOP and Redis restarted with
// its append-only file, records deleted below the applied offset while
// consuming, and a clock step in one instance's own clock. It must end
// exact, or with every loss halted loudly; it logs its figures.
func TestSoak(t *testing.T) {
	dur := 30 * time.Minute
	if s := os.Getenv("SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		require.NoError(t, err)
		dur = d
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %s", seed, dur)
	rng := rand.New(rand.NewPCG(seed, 30))
	bin := buildAggregator(t)
	cluster, broker := testenv.Kafka(t, 6, allTopics...)
	var brokerDown atomic.Bool
	cluster.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if brokerDown.Load() {
			return nil, errors.New("restarting"), true
		}
		return nil, nil, false
	})
	rsrv, err := redisproc.Start(testenv.Tool(t, "redis-server"), t.TempDir(), "--appendonly", "yes", "--appendfsync", "always")
	require.NoError(t, err)
	t.Cleanup(func() { _ = rsrv.Stop() })
	env := []string{"CXPULSE_KAFKA_BROKERS=" + broker, "CXPULSE_REDIS_URL=redis://" + rsrv.Addr,
		"CXPULSE_INSECURE_NO_AUTH=1", "CXPULSE_GROUP_ID=soak", "CXPULSE_LOG_FORMAT=json"}

	// Two aggregator processes and one in process, whose own clock steps.
	procs := []*process{startProcess(t, bin, "p0", env), startProcess(t, bin, "p1", env)}
	var step atomic.Int64
	cfg, err := load(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + rsrv.Addr,
		"CXPULSE_INSECURE_NO_AUTH": "1", "CXPULSE_GROUP_ID": "soak", "CXPULSE_HTTP_ADDR": fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))})
	require.NoError(t, err)
	inproc, err := aggregate.New(cfg, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)),
		aggregate.WithLocalClock(func() time.Time { return time.Now().Add(time.Duration(step.Load())) }))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = inproc.Run(ctx) }()

	// Traffic: about 100 events a second, with repeats and revisions.
	var mu sync.Mutex
	var msgs []msg
	g := &generator{rng: rand.New(rand.NewPCG(seed, 31)), now: time.Now()}
	end := time.Now().Add(dur)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		prng := rand.New(rand.NewPCG(seed, 32))
		var sent []events.Event
		for time.Now().Before(end) {
			var batch []msg
			for range 50 {
				ev := g.event([]string{"acme", "globex", "initech"}[prng.IntN(3)])
				ev.OccurredAt = time.Now().Add(-time.Duration(prng.Int64N(int64(10 * time.Minute)))).Truncate(time.Millisecond)
				sent = append(sent, ev)
				batch = append(batch, eventMsg(ev))
				if prng.IntN(30) == 0 {
					old := sent[prng.IntN(len(sent))]
					if prng.IntN(2) == 0 {
						old.Revision++
					}
					batch = append(batch, eventMsg(old))
				}
			}
			// The broker is down now and then: the batch is sent again
			// until it lands (a partly written batch only repeats events,
			// which the aggregator counts once).
			for _, err := tryProduce(broker, batch); err != nil; _, err = tryProduce(broker, batch) {
				time.Sleep(time.Second)
			}
			mu.Lock()
			msgs = append(msgs, batch...)
			mu.Unlock()
			time.Sleep(500 * time.Millisecond)
		}
	}()

	faults := map[string]int{}
	for time.Now().Before(end) {
		time.Sleep(time.Duration(20+rng.IntN(40)) * time.Second)
		if !time.Now().Before(end) {
			break
		}
		i := rng.IntN(len(procs))
		switch kind := rng.IntN(7); kind {
		case 0:
			procs[i].kill()
			procs[i] = startProcess(t, bin, fmt.Sprintf("p%d-%d", i, faults["aggregator SIGKILL"]), env)
			faults["aggregator SIGKILL"]++
		case 1:
			_ = procs[i].cmd.Process.Signal(syscall.SIGSTOP)
			time.Sleep(time.Duration(1+rng.IntN(5)) * time.Second)
			_ = procs[i].cmd.Process.Signal(syscall.SIGCONT)
			faults["aggregator SIGSTOP"]++
		case 2:
			brokerDown.Store(true)
			time.Sleep(time.Duration(2+rng.IntN(6)) * time.Second)
			brokerDown.Store(false)
			faults["broker unavailable"]++
		case 3:
			_ = syscall.Kill(rsrv.Pid(), syscall.SIGSTOP)
			time.Sleep(time.Duration(1+rng.IntN(4)) * time.Second)
			_ = syscall.Kill(rsrv.Pid(), syscall.SIGCONT)
			faults["Redis SIGSTOP"]++
		case 4:
			require.NoError(t, rsrv.Restart())
			faults["Redis restart (AOF)"]++
		case 5:
			var st api.Status
			if getJSON(t, procs[i].base+"/v1/status", &st) == http.StatusOK && len(st.Partitions) > 0 {
				p := st.Partitions[rng.IntN(len(st.Partitions))]
				if p.AppliedOffset > 0 {
					testenv.DeleteRecords(t, broker, p.Topic, int32(p.Partition), p.AppliedOffset)
				}
			}
			faults["records deleted below the applied offset"]++
		case 6:
			step.Store(int64(time.Duration(rng.IntN(3)-1) * 2 * time.Hour))
			faults["clock step in one instance"]++
		}
	}
	wg.Wait()
	step.Store(0)

	// The end: caught up, or halted with the reason shown (each instance
	// reports the partitions it halted).
	bases := []string{procs[0].base, procs[1].base, "http://" + cfg.HTTPAddr}
	base := bases[0]
	var st api.Status
	status := func() {
		var merged api.Status
		for _, b := range bases {
			var one api.Status
			if getJSON(t, b+"/v1/status", &one) != http.StatusOK {
				continue
			}
			if merged.Partitions == nil {
				merged = one
				continue
			}
			for i, p := range one.Partitions {
				if p.Halted != "" && i < len(merged.Partitions) {
					merged.Partitions[i].Halted = p.Halted
				}
			}
		}
		st = merged
	}
	deadline := time.Now().Add(3 * time.Minute)
	for ; time.Now().Before(deadline); time.Sleep(time.Second) {
		if status(); st.Partitions != nil && (st.Lag == 0 || halted(st) > 0) {
			break
		}
	}
	mu.Lock()
	all := slices.Clone(msgs)
	mu.Unlock()
	kinds := make([]string, 0, len(faults))
	for k, n := range faults {
		kinds = append(kinds, fmt.Sprintf("%s × %d", k, n))
	}
	sort.Strings(kinds)
	t.Logf("%d messages over %s; faults: %s; lag at the end %d", len(all), dur, strings.Join(kinds, ", "), st.Lag)
	if n := halted(st); n > 0 {
		for _, p := range st.Partitions {
			if p.Halted != "" {
				t.Logf("halted %s/%d at %d of %d: %s", p.Topic, p.Partition, p.AppliedOffset, p.HighWatermark, p.Halted)
			}
		}
		unready := 0
		for _, b := range bases {
			if resp, err := http.Get(b + "/readyz"); err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusServiceUnavailable {
					unready++
				}
			}
		}
		require.Positive(t, unready, "a halt shows in /readyz")
		return
	}
	require.Zero(t, st.Lag, "caught up")
	// Compare just after a 2-minute mark, when no bucket of any window is
	// leaving.
	for time.Now().UnixMilli()%120_000 > 60_000 || time.Now().UnixMilli()%120_000 < 10_000 {
		time.Sleep(time.Second)
	}
	now := time.Now()
	final, _ := reference(all, now)
	for _, tenant := range []string{"acme", "globex", "initech"} {
		checkScores(t, base, tenant, expected(final[tenant], now, func(ev *events.Event) []string {
			out := []string{"all"}
			for _, d := range []string{"store", "region", "channel", "agent"} {
				if v := ev.Dims[d]; v != "" {
					out = append(out, d+"="+v)
				}
			}
			return out
		}))
	}
	t.Logf("every stat of every window and scope exact for %d messages", len(all))
}

func halted(st api.Status) int {
	n := 0
	for _, p := range st.Partitions {
		if p.Halted != "" {
			n++
		}
	}
	return n
}
