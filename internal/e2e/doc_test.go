// Package e2e is cxpulse's end-to-end suite: the real binaries or an
// in-process aggregator against a real redis-server and a kfake broker
// over TCP, compared with a reference model written here (harness_test.go,
// reference_test.go, commerce_ref_test.go). One harness serves every test.
package e2e

import (
	"testing"

	"github.com/cxpulse/cxpulse/internal/aggregate"
)

// load builds an aggregator config from env alone.
func load(t *testing.T, env map[string]string) (aggregate.Config, error) {
	t.Helper()
	return aggregate.ConfigFrom(func(k string) string { return env[k] })
}
