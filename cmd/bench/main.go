// Command bench measures cxpulse side by side with its ceilings and with
// the consumer a user would hand-roll: it starts a Kafka-protocol broker
// (kfake) in a process of its own, a private redis-server and the
// aggregator binary, and writes bench/results.json. Run it with make bench.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/cxpulse/cxpulse/internal/bench"
)

func main() { os.Exit(run()) }

func run() int {
	var cfg bench.Config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&cfg.Events, "events", 1_000_000, "events to generate and consume in each phase")
	fs.IntVar(&cfg.Partitions, "partitions", 6, "partitions per input topic")
	fs.StringVar(&cfg.Out, "out", "bench/results.json", "where to write the results")
	fs.IntVar(&cfg.LatencyRate, "latency-rate", 0, "events per second during the latency phase (0: a quarter of the aggregator's measured capacity)")
	fs.BoolVar(&cfg.SkipBaselines, "skip-baselines", false, "skip the ceiling and naive phases and print the table only (a quicker look at the aggregator)")
	fs.Func("redis-arg", "an extra redis-server argument, repeatable (-redis-arg=--hash-max-listpack-entries -redis-arg=128)", func(v string) error {
		cfg.RedisArgs = append(cfg.RedisArgs, v)
		return nil
	})
	broker := fs.Int("serve-broker", 0, "internal: serve the broker on this port until stdin closes")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if *broker != 0 {
		if err := bench.ServeBroker(*broker, cfg.Partitions); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench.Run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}
