// Command demo runs all of cxpulse in one process (embedded broker, a
// private Redis, ingest, aggregator and synthetic traffic) so a newcomer
// sees it work with one command. Run with -h for its settings.
package main

import (
	"context"
	"os"
	_ "time/tzdata"

	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/cli"
	"github.com/cxpulse/cxpulse/internal/demo"
)

func main() { os.Exit(run()) }

func run() int {
	var cfg demo.Config
	return cli.Run("demo", os.Args[1:], &cfg, func(ctx context.Context, logger *zap.Logger) error {
		return demo.Run(ctx, cfg, logger, os.Stdout)
	})
}
