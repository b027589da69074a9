package scores_test

import (
	"context"
	"fmt"
	"os/exec"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/redisproc"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// TestReader reads a view written by hand in the documented layout.
func TestReader(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	ctx := t.Context()
	require.NoError(t, rdb.HSet(ctx, "cxpulse:{acme}:scores:store=42",
		"7d:nps", "31.5", "7d:nps_responses", "40", "7d:csat_responses", "0", "updated_at", "1795343400000", "seq", "7").Err())

	r := scores.NewReader(rdb)
	s, err := r.Get(ctx, "acme", "store=42")
	require.NoError(t, err)
	require.Equal(t, scores.Scores{Tenant: "acme", Scope: "store=42", UpdatedAt: 1795343400000, Seq: 7,
		Windows: map[string]map[string]float64{"7d": {"nps": 31.5, "nps_responses": 40, "csat_responses": 0}}}, s)
	v, ok := s.Stat("7d", "nps")
	require.True(t, ok)
	require.Equal(t, 31.5, v)
	_, ok = s.Stat("7d", "csat")
	require.False(t, ok, "a ratio with no responses is absent")

	_, err = r.Get(ctx, "acme", "store=43")
	require.ErrorIs(t, err, scores.ErrNotFound)
}

func ExampleReader_Get() {
	// A throwaway redis-server stands in for the aggregator's Redis, with
	// one view written as the aggregator writes it.
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv, err := redisproc.Start(bin, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	ctx := context.Background()
	rdb.HSet(ctx, scores.Key("acme", "store=42"), "7d:nps", "31.5", "7d:nps_moe95", "8.25", "7d:nps_responses", "120", "seq", "7")

	s, err := scores.NewReader(rdb).Get(ctx, "acme", "store=42")
	if err != nil {
		fmt.Println(err)
		return
	}
	if nps, ok := s.Stat("7d", "nps"); ok {
		moe, _ := s.Stat("7d", "nps_moe95")
		n, _ := s.Stat("7d", "nps_responses")
		fmt.Printf("NPS over 7 days: %.1f ± %.1f (n = %.0f)\n", nps, moe, n)
	}
	if _, ok := s.Stat("7d", "csat"); !ok {
		fmt.Println("CSAT over 7 days: no answers")
	}
	// Output:
	// NPS over 7 days: 31.5 ± 8.2 (n = 120)
	// CSAT over 7 days: no answers
}
