// Command aggregator consumes cxpulse events from Kafka and keeps rolling
// metrics in Redis. Settings come from flags or CXPULSE_* variables; run
// with -h to list them.
package main

import (
	"context"
	"os"
	_ "time/tzdata"

	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/aggregate"
	"github.com/cxpulse/cxpulse/internal/cli"
)

func main() { os.Exit(run()) }

func run() int {
	var cfg aggregate.Config
	return cli.Run("aggregator", os.Args[1:], &cfg, func(ctx context.Context, logger *zap.Logger) error {
		return aggregate.Run(ctx, cfg, logger)
	})
}
