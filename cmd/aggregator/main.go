// Command aggregator consumes cxpulse events from Kafka and keeps rolling
// metrics in Redis. Settings come from flags or CXPULSE_* variables; run
// with -h to list them.
package main

import (
	"context"
	"os"
	"runtime/debug"
	_ "time/tzdata"

	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/aggregate"
	"github.com/cxpulse/cxpulse/internal/cli"
)

func main() { os.Exit(run()) }

func run() int {
	// Garbage is collected at 200 % of the live heap unless GOGC is set
	// (docs/performance.md).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	var cfg aggregate.Config
	return cli.Run("aggregator", os.Args[1:], &cfg, func(ctx context.Context, logger *zap.Logger) error {
		return aggregate.Run(ctx, cfg, logger)
	})
}
