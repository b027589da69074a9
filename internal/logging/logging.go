// Package logging builds the zap logger of a cxpulse binary: JSON for
// production, a console encoder for people. Components take child loggers
// from it; nothing here is global.
package logging

import (
	"fmt"

	"go.uber.org/zap"
)

// New returns a logger writing to stderr in the given format (json or
// console), tagged with the binary's name.
func New(format, binary string) (*zap.Logger, error) {
	var cfg zap.Config
	switch format {
	case "json", "":
		cfg = zap.NewProductionConfig()
	case "console":
		cfg = zap.NewDevelopmentConfig()
	default:
		return nil, fmt.Errorf("unknown log format %q", format)
	}
	cfg.DisableStacktrace = true
	l, err := cfg.Build()
	if err != nil {
		return nil, fmt.Errorf("building logger: %w", err)
	}
	return l.With(zap.String("binary", binary)), nil
}
