package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/store"
)

// What a run reports and how it reads Redis's and the aggregator's
// figures: the table, profiles, command statistics and CPU.

func printTable(out io.Writer, r *Results) {
	ratio := func(a, b float64) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", a/b)
	}
	fmt.Fprintf(out, "\ncxpulse bench, %s: %d events (%s), %d tenants, %d partitions per topic\n\n", r.Date, r.Events, mix(r.EventMix), r.Tenants, r.Partitions)
	fmt.Fprintf(out, "| measure | value | target |\n| --- | --- | --- |\n")
	fmt.Fprintf(out, "| raw kafka-go ceiling | %.0f events/s | |\n", r.CeilingEPS)
	fmt.Fprintf(out, "| decode ceiling | %.0f events/s | |\n", r.DecodeCeilingEPS)
	fmt.Fprintf(out, "| naive consumer | %.0f events/s | |\n", r.NaiveEPS)
	fmt.Fprintf(out, "| aggregator, exactly-once | %.0f events/s | |\n", r.AggregatorEPS)
	fmt.Fprintf(out, "| aggregator / decode ceiling | %s | ≥ 0.30 |\n", ratio(r.AggregatorEPS, r.DecodeCeilingEPS))
	fmt.Fprintf(out, "| aggregator / naive | %s | ≥ 4 |\n", ratio(r.AggregatorEPS, r.NaiveEPS))
	fmt.Fprintf(out, "| latency p50 / p99 at a quarter of capacity (%d events/s), scopes that exist | %.0f / %.0f ms | p99 ≤ 150 ms |\n", r.LatencyRate, r.LatencyExistingP50Ms, r.LatencyExistingP99Ms)
	fmt.Fprintf(out, "| the same, scopes the marker creates | %.0f / %.0f ms | reported apart |\n", r.LatencyNewScopeP50Ms, r.LatencyNewScopeP99Ms)
	fmt.Fprintf(out, "| kill -9: session-timeout wait | %.1f s | reported |\n", r.SessionWaitS)
	fmt.Fprintf(out, "| kill -9: reassigned to caught up | %.1f s | ≤ 5 s |\n", r.RecoveryS)
	fmt.Fprintf(out, "| Redis bytes per active scope | %.0f | ≤ 65536 |\n", r.RedisBytesPerScope)
	fmt.Fprintf(out, "| Redis busy during the aggregator phase | %.0f %% of a core | |\n", 100*r.RedisBusy)
	fmt.Fprintf(out, "| CPU per event: aggregator / Redis / broker | %.1f / %.1f / %.1f µs | |\n", r.AggregatorCPUus, r.RedisCPUus, r.BrokerCPUus)
	fmt.Fprintf(out, "| unit of Redis work (pipelined HSET into a large hash) | %.2f µs | |\n", r.RedisOpUs)
	fmt.Fprintf(out, "| Redis work per event, in that unit (redis_ops_per_event) | %.1f | ≤ 5 |\n", r.RedisOpsPerEvent)
	fmt.Fprintf(out, "| CPU per event of the decode ceiling | %.2f µs | |\n", r.DecodeCPUus)
	fmt.Fprintf(out, "| aggregator CPU per event / decode's (aggregator_cpu_vs_decode) | %.2f | ≤ 2.5 |\n", r.AggregatorCPUvsDecode)
	fmt.Fprintf(out, "| CPU per event on a grown state, the usual mix: aggregator / Redis | %.1f / %.1f µs | |\n", r.GrownAggregatorCPUus, r.GrownRedisCPUus)
	fmt.Fprintf(out, "| cost growth, grown / fresh (aggregator, Redis) | %.2f (%.2f, %.2f) | ≤ 1.3 |\n", r.CostGrowth, r.CostGrowthAggregator, r.CostGrowthRedis)
	fmt.Fprintf(out, "| CPU per event spread over the grown scopes and customers: aggregator / Redis | %.1f / %.1f µs | |\n", r.SpreadAggregatorCPUus, r.SpreadRedisCPUus)
	if len(r.RedisCommands) > 0 {
		fmt.Fprintf(out, "\nRedis time by command during the aggregator phase (scripts' commands included in evalsha):\n\n| command | calls | seconds |\n| --- | --- | --- |\n")
		for _, c := range r.RedisCommands {
			fmt.Fprintf(out, "| %s | %d | %.2f |\n", c.Command, c.Calls, c.Seconds)
		}
	}
	if len(r.ScriptSections) > 0 {
		fmt.Fprintf(out, "\nRedis time by script section, µs per event (CXPULSE_DEBUG_SCRIPT_PROFILE):\n\n| section | aggregator phase | latency phase | grown state |\n| --- | --- | --- | --- |\n")
		phases := []map[string]float64{r.ScriptSections, r.LatencyScriptSections, r.GrownScriptSections}
		seen := map[string]bool{}
		var names []string
		for _, ph := range phases {
			for k := range ph {
				if !seen[k] {
					seen[k] = true
					names = append(names, k)
				}
			}
		}
		slices.SortFunc(names, func(a, b string) int {
			return cmp.Or(cmp.Compare(r.ScriptSections[b], r.ScriptSections[a]), strings.Compare(a, b))
		})
		sums := make([]float64, len(phases))
		for _, k := range names {
			fmt.Fprintf(out, "| %s | %.2f | %.2f | %.2f |\n", k, r.ScriptSections[k], r.LatencyScriptSections[k], r.GrownScriptSections[k])
			for i, ph := range phases {
				sums[i] += ph[k]
			}
		}
		fmt.Fprintf(out, "| all sections | %.2f | %.2f | %.2f |\n", sums[0], sums[1], sums[2])
	}
}

// scriptSections reads and clears the script profile of every tenant the
// bench sends to, in µs per event of the events given.
func scriptSections(ctx context.Context, rdb *redis.Client, events int) (map[string]float64, error) {
	prof, err := store.ScriptProfile(ctx, rdb, append(slices.Clone(tenantNames), latencyTenant))
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(prof))
	for k, us := range prof {
		out[k] = float64(us) / float64(max(1, events))
	}
	return out, nil
}

func mix(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// profile saves a CPU profile of the aggregator taken over the first d of
// its run (started once it answers), for go tool pprof.
func profile(base, path string, d time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, int(d.Seconds())))
			if err != nil {
				continue
			}
			defer resp.Body.Close()
			if f, err := os.Create(path); err == nil {
				_, _ = io.Copy(f, resp.Body)
				_ = f.Close()
			}
			return
		}
	}()
	return done
}

// commandStats returns the n commands Redis spent most time on since the
// last CONFIG RESETSTAT.
func commandStats(ctx context.Context, rdb *redis.Client, n int) []CommandStat {
	info, err := rdb.InfoMap(ctx, "commandstats").Result()
	if err != nil {
		return nil
	}
	var out []CommandStat
	for k, v := range info["Commandstats"] {
		st := CommandStat{Command: strings.TrimPrefix(k, "cmdstat_")}
		for part := range strings.SplitSeq(v, ",") {
			name, val, _ := strings.Cut(part, "=")
			switch name {
			case "calls":
				st.Calls, _ = strconv.ParseInt(val, 10, 64)
			case "usec":
				us, _ := strconv.ParseFloat(val, 64)
				st.Seconds = us / 1e6
			}
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b CommandStat) int { return cmp.Compare(b.Seconds, a.Seconds) })
	return out[:min(n, len(out))]
}

// redisCPU returns the CPU seconds Redis has used.
func redisCPU(ctx context.Context, rdb *redis.Client) float64 {
	info, err := rdb.InfoMap(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	u, _ := strconv.ParseFloat(info["CPU"]["used_cpu_user"], 64)
	s, _ := strconv.ParseFloat(info["CPU"]["used_cpu_sys"], 64)
	return u + s
}
