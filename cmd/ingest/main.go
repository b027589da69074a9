// Command ingest is the cxpulse HTTP API that takes events from apps and
// writes them to Kafka. Settings come from flags or CXPULSE_* variables;
// run with -h to list them.
package main

import (
	"context"
	"os"
	_ "time/tzdata"

	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/cli"
	"github.com/cxpulse/cxpulse/internal/ingest"
)

func main() { os.Exit(run()) }

func run() int {
	var cfg ingest.Config
	return cli.Run("ingest", os.Args[1:], &cfg, func(ctx context.Context, logger *zap.Logger) error {
		return ingest.Run(ctx, cfg, logger)
	})
}
