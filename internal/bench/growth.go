package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/traffic"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// The cost-growth phase and the unit of Redis work.

// Growth sizes the grown state: the main phase's events stay remembered
// (one id each), and GrowCustomers customers with purchase histories
// spread over GrowScopes stores are added to tenant acme.
const (
	GrowCustomers      = 100_000
	GrowScopes         = 10_000
	growPurchasesEach  = 2
	growMeasuredEvents = 200_000
)

// cpuPerEvent is the CPU per event of the aggregator and of Redis while
// the aggregator applied a batch.
type cpuPerEvent struct {
	agg, redis float64
	// sections is the Redis time of each script section per event.
	sections map[string]float64
}

// measureGrowth grows the state, then measures the aggregator's and
// Redis's CPU per event twice: over a batch of the usual mix (what the
// fresh state was measured with: the cost of a bigger state), and over one
// whose events half go to the grown customers and stores (the cost of
// events spread over many scopes and customers). A CPU profile of the
// aggregator over the first is saved at profPath.
func measureGrowth(ctx context.Context, broker string, rdb *redis.Client, p *aggregatorProcess, gen *traffic.Generator, profPath string) (same, spread cpuPerEvent, err error) {
	now := time.Now()
	var grow []events.Event
	for c := range GrowCustomers {
		for k := range growPurchasesEach {
			ev := events.Event{ID: fmt.Sprintf("grow-%d-%d", c, k), Type: events.TypePurchaseCompleted, Tenant: "acme",
				OccurredAt: now.Add(-time.Duration(gen.Int63n(int64(6 * time.Hour)))), CustomerID: growCustomer(c),
				Dims:     map[string]string{"store": growStore(c), "region": traffic.Regions()[c%len(traffic.Regions())]},
				Purchase: &events.Purchase{OrderID: fmt.Sprintf("og-%d-%d", c, k), Amount: 20, Currency: "EUR"}}
			grow = append(grow, ev)
		}
	}
	if err := applyEvents(ctx, broker, p, grow); err != nil {
		return same, spread, fmt.Errorf("growing the state: %w", err)
	}
	batch := func(spreadOut bool) []events.Event {
		out := make([]events.Event, growMeasuredEvents)
		for i := range out {
			ev := gen.Next(now.Add(-time.Duration(gen.Int63n(int64(6 * time.Hour)))))
			if spreadOut && i%2 == 0 {
				c := int(gen.Int63n(GrowCustomers))
				ev.Tenant, ev.CustomerID, ev.Dims["store"] = "acme", growCustomer(c), growStore(c)
				if ev.Referral != nil {
					ev.Referral.ReferrerID = ev.CustomerID
				}
			}
			out[i] = ev
		}
		return out
	}
	measure := func(evs []events.Event) (cpuPerEvent, error) {
		if _, err := scriptSections(ctx, rdb, 1); err != nil { // what growing left
			return cpuPerEvent{}, err
		}
		agg0, red0 := processCPU(p.cmd.Process.Pid), redisCPU(ctx, rdb)
		if err := applyEvents(ctx, broker, p, evs); err != nil {
			return cpuPerEvent{}, fmt.Errorf("measuring on the grown state: %w", err)
		}
		perEvent := 1e6 / float64(len(evs))
		c := cpuPerEvent{agg: (processCPU(p.cmd.Process.Pid) - agg0) * perEvent, redis: (redisCPU(ctx, rdb) - red0) * perEvent}
		var err error
		c.sections, err = scriptSections(ctx, rdb, len(evs))
		return c, err
	}
	profDone := profile(p.base, profPath, 5*time.Second)
	same, err = measure(batch(false))
	<-profDone
	if err != nil {
		return same, spread, err
	}
	spread, err = measure(batch(true))
	return same, spread, err
}

func growCustomer(c int) string { return fmt.Sprintf("g%06d", c) }
func growStore(c int) string    { return fmt.Sprintf("gs%05d", c%GrowScopes) }

// applyEvents produces evs and waits until the aggregator consumed them.
func applyEvents(ctx context.Context, broker string, p *aggregatorProcess, evs []events.Event) error {
	before, err := metricSum(p.base, "cxpulse_events_consumed_total")
	if err != nil {
		return err
	}
	topics, keys, values := make([]string, len(evs)), make([][]byte, len(evs)), make([][]byte, len(evs))
	for i := range evs {
		b, err := json.Marshal(&evs[i])
		if err != nil {
			return err
		}
		topics[i], keys[i], values[i] = evs[i].Topic(events.DefaultTopicPrefix), []byte(evs[i].Key()), b
	}
	if err := produceAll(ctx, broker, topics, keys, values); err != nil {
		return err
	}
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if v, err := metricSum(p.base, "cxpulse_events_consumed_total"); err == nil && v >= before+float64(len(evs)) {
			return nil
		}
	}
	return fmt.Errorf("not all %d events consumed in time; log in %s", len(evs), p.log)
}

// redisOpUs returns Redis's CPU, in µs, per pipelined HSET of one 60-byte
// value into a hash already holding 200,000 fields: the unit of Redis work
// on this machine, measured in the same run as everything else.
func redisOpUs(ctx context.Context, rdb *redis.Client) (float64, error) {
	const fill, n, chunk = 200_000, 200_000, 1000
	val := strings.Repeat("v", 60)
	hset := func(from, to int) error {
		for i := from; i < to; i += chunk {
			pipe := rdb.Pipeline()
			for k := i; k < min(i+chunk, to); k++ {
				pipe.HSet(ctx, "bench:op", fmt.Sprintf("field-%08d", k), val)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return fmt.Errorf("measuring the unit of Redis work: %w", err)
			}
		}
		return nil
	}
	if err := hset(0, fill); err != nil {
		return 0, err
	}
	cpu0 := redisCPU(ctx, rdb)
	if err := hset(fill, fill+n); err != nil {
		return 0, err
	}
	us := (redisCPU(ctx, rdb) - cpu0) * 1e6 / n
	if err := rdb.Unlink(ctx, "bench:op").Err(); err != nil {
		return 0, fmt.Errorf("measuring the unit of Redis work: %w", err)
	}
	return us, nil
}
