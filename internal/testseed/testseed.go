// Package testseed gives randomized tests their seed: CXPULSE_TEST_SEED
// when set (to replay a failure), else a fresh one, said in the test's log
// and again if the test fails. What the seed drives is left to the tests.
package testseed

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// Env names the setting that fixes every randomized test's seed.
const Env = "CXPULSE_TEST_SEED"

// New returns the seed of a randomized test: CXPULSE_TEST_SEED, or one
// from the clock.
func New(t testing.TB) uint64 {
	t.Helper()
	return Or(t, uint64(time.Now().UnixNano()))
}

// Or returns CXPULSE_TEST_SEED, or fallback when it is unset (a test whose
// default seed reproduces a documented result).
func Or(t testing.TB, fallback uint64) uint64 {
	t.Helper()
	seed := fallback
	if v := os.Getenv(Env); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s: %q is not an unsigned integer", Env, v)
		}
		seed = n
	}
	t.Logf("seed %d (replay with %s=%d)", seed, Env, seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("failed with seed %d: replay with %s=%d", seed, Env, seed)
		}
	})
	return seed
}
