package scopes_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/scopes"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// TestCapsValuesAndCombinations: with a cap of 2, a dimension's third
// value and a combination's third pair count under __other__, and a
// second Scoper (another instance, or this one after forgetting) answers
// the same.
func TestCapsValuesAndCombinations(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	ws, err := window.Parse("1h,24h")
	require.NoError(t, err)
	st := store.New(rdb, ws, 24*time.Hour)
	dims := []map[string]string{
		{"channel": "web", "region": "eu"},
		{"channel": "app", "region": "eu"},
		{"channel": "store", "region": "us"},
		{"channel": "web", "region": "us"},
	}
	want := [][]string{
		{"all", "channel=web", "region=eu", "channel=web,region=eu"},
		{"all", "channel=app", "region=eu", "channel=app,region=eu"},
		{"all", "channel=__other__", "region=us", "channel=__other__,region=__other__"},
		{"all", "channel=web", "region=us", "channel=__other__,region=__other__"},
	}
	for range 2 {
		sc := scopes.New([]string{"channel", "region"}, []string{"region+channel"}, 2, st)
		names, err := sc.Resolve(t.Context(), "acme", dims)
		require.NoError(t, err)
		for i, d := range dims {
			require.Equal(t, want[i], names.Scopes(d), "event %d", i)
		}
	}
}
