package aggregate_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/aggregate"
	"github.com/cxpulse/cxpulse/internal/testenv"
)

func load(t *testing.T, env map[string]string) (aggregate.Config, error) {
	t.Helper()
	return aggregate.ConfigFrom(func(k string) string { return env[k] })
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := load(t, map[string]string{"CXPULSE_INSECURE_NO_AUTH": "1"})
	require.NoError(t, err)
	require.Equal(t, ":9090", cfg.HTTPAddr)
	require.Equal(t, "cxpulse-aggregator", cfg.GroupID)
	require.Equal(t, []string{"store", "region", "channel", "product", "agent"}, cfg.Dimensions)
	var buckets []time.Duration
	for _, w := range cfg.Windows {
		buckets = append(buckets, w.Bucket)
	}
	require.Equal(t, []time.Duration{2 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour, 72 * time.Hour}, buckets)
	require.Equal(t, 24*time.Hour, cfg.DedupeHorizon)
	require.Equal(t, time.Second, cfg.EmitInterval)
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	_, err := load(t, map[string]string{
		"CXPULSE_INSECURE_NO_AUTH":   "1",
		"CXPULSE_WINDOWS":            "1h,10m",
		"CXPULSE_SCOPE_COMBOS":       "channel+country",
		"CXPULSE_REDIS_URL":          "http://nope",
		"CXPULSE_MAX_SCOPES_PER_DIM": "0",
	})
	require.ErrorContains(t, err, `CXPULSE_WINDOWS: window "10m": 10m is shorter than the minimum 24m`)
	require.ErrorContains(t, err, `CXPULSE_SCOPE_COMBOS: "channel+country" uses "country", which is not in CXPULSE_DIMENSIONS`)
	require.ErrorContains(t, err, "CXPULSE_REDIS_URL: ")
	require.ErrorContains(t, err, "CXPULSE_MAX_SCOPES_PER_DIM: 0 must be at least 1")
}

func TestProbes(t *testing.T) {
	_, addr := testenv.Redis(t)
	_, broker := testenv.Kafka(t, 1, "cx.surveys", "cx.tickets", "cx.purchases")
	cfg, err := load(t, map[string]string{"CXPULSE_INSECURE_NO_AUTH": "1", "CXPULSE_REDIS_URL": "redis://" + addr, "CXPULSE_KAFKA_BROKERS": broker})
	require.NoError(t, err)
	a, err := aggregate.New(cfg, zap.NewNop())
	require.NoError(t, err)
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
	require.NoError(t, a.Close())
	resp, err := http.Get(srv.URL + "/readyz")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}
