package clock_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/clock"
	"github.com/cxpulse/cxpulse/internal/testenv"
)

// TestFollowsRedisWhateverTheMachineSays: a machine clock two hours fast,
// then stepped back by four, changes neither the time the clock gives nor
// its course; the skew metric says how far off the machine is.
func TestFollowsRedisWhateverTheMachineSays(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	step := 2 * time.Hour
	reg := prometheus.NewRegistry()
	c := clock.NewRedis(rdb, func() time.Time { return time.Now().Add(step) }, zap.NewNop(), reg)
	require.NoError(t, c.Sync(t.Context()))
	server := rdb.Time(t.Context()).Val()
	require.InDelta(t, 0, c.Now().Sub(server).Seconds(), 1)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	require.Equal(t, "cxpulse_clock_skew_seconds", mfs[0].GetName())
	require.InDelta(t, 7200, mfs[0].GetMetric()[0].GetGauge().GetValue(), 1)
	before := c.Now()
	step = -2 * time.Hour // the machine's clock steps
	after := c.Now()
	require.False(t, after.Before(before), "the clock never runs back")
	require.Less(t, after.Sub(before), time.Second)
}
