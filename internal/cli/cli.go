// Package cli runs a cxpulse binary: it reads the settings, builds the
// logger, turns SIGINT and SIGTERM into context cancellation and maps the
// outcome to an exit code. What the binary does is left to its run function.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/config"
	"github.com/cxpulse/cxpulse/internal/logging"
)

// Settings is a binary's configuration.
type Settings interface {
	Register(*config.Set)
	Validate() error
	LogFormat() string
	LogLevel() string
}

// Run parses args into cfg, validates it and calls run with a context that
// ends on SIGINT or SIGTERM. It returns the process exit code: 0 on success,
// 2 for bad settings, 1 when run fails.
func Run(name string, args []string, cfg Settings, run func(context.Context, *zap.Logger) error) int {
	set := config.NewSet(name, os.Getenv)
	cfg.Register(set)
	err := set.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "Usage of %s (flags override environment variables):\n", name)
		set.Usage(os.Stderr)
		return 0
	}
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: invalid configuration:\n%v\n", name, err)
		return 2
	}
	logger, err := logging.New(cfg.LogFormat(), cfg.LogLevel(), name)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 2
	}
	defer func() { _ = logger.Sync() }()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, logger); err != nil {
		logger.Error("stopped with error", zap.Error(err))
		return 1
	}
	logger.Info("stopped")
	return 0
}
