package scores_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

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
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer rdb.Close()
	s, err := scores.NewReader(rdb).Get(context.Background(), "acme", "store=42")
	if err != nil {
		fmt.Println(err)
		return
	}
	if nps, ok := s.Stat("7d", "nps"); ok {
		moe, _ := s.Stat("7d", "nps_moe95")
		fmt.Printf("NPS over 7 days: %.1f ± %.1f\n", nps, moe)
	}
}
