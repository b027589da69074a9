// Package logging builds the zap logger of a cxpulse binary: JSON for
// production, a console encoder for people. Components take child loggers
// from it; nothing here is global.
package logging

import (
	"fmt"

	"go.uber.org/zap"
)

// Levels are the log levels a binary takes, least to most severe.
var Levels = []string{"debug", "info", "warn", "error"}

// New returns a logger writing to stderr in the given format (json or
// console) from the given level (Levels) up, tagged with the binary's
// name; "" is info.
func New(format, level, binary string) (*zap.Logger, error) {
	if level == "" {
		level = "info"
	}
	var cfg zap.Config
	switch format {
	case "json", "":
		cfg = zap.NewProductionConfig()
	case "console":
		cfg = zap.NewDevelopmentConfig()
	default:
		return nil, fmt.Errorf("unknown log format %q", format)
	}
	lvl, err := zap.ParseAtomicLevel(level)
	if err != nil {
		return nil, fmt.Errorf("unknown log level %q", level)
	}
	cfg.Level = lvl
	cfg.DisableStacktrace = true
	l, err := cfg.Build()
	if err != nil {
		return nil, fmt.Errorf("building logger: %w", err)
	}
	return l.With(zap.String("binary", binary)), nil
}
