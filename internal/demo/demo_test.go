package demo_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/demo"
	"github.com/cxpulse/cxpulse/internal/testenv"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemoRuns starts the whole demo on free ports for a few seconds: the
// history must be accepted in full, live traffic must flow, and the
// aggregator must answer its health check.
func TestDemoRuns(t *testing.T) {
	testenv.Tool(t, "redis-server")
	t.Setenv("CXPULSE_REDIS_URL", "")
	addr := func() string { return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) }
	cfg := demo.Config{KafkaAddr: addr(), IngestAddr: addr(), AggregatorAddr: addr(), Rate: 200, Duration: 20 * time.Second, Seed: 3, Log: "json",
		Level: "warn", Traffic: true}
	require.NoError(t, cfg.Validate())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- demo.Run(t.Context(), cfg, zap.NewNop(), &out) }()

	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + cfg.AggregatorAddr + "/healthz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond)
	// The banner's own event is accepted as printed.
	own := regexp.MustCompile(`send your own: curl -X POST (\S+) -H 'Content-Type: application/json' -d '([^']+)'`).FindStringSubmatch(out.String())
	require.Len(t, own, 3, out.String())
	resp, err := http.Post(own[1], "application/json", strings.NewReader(own[2]))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, string(body))
	require.JSONEq(t, `{"accepted":1}`, string(body))
	require.Contains(t, own[2], `"tenant":"demo"`)

	// Once the history is in, every point of the 7d and 30d trends, of
	// the tenant and of each store, rests on the chart's floor of answers.
	history := regexp.MustCompile(`history posted: accepted (\d+) events`)
	require.Eventually(t, func() bool { return history.MatchString(out.String()) }, 15*time.Second, 50*time.Millisecond)
	posted, err := strconv.Atoi(history.FindStringSubmatch(out.String())[1])
	require.NoError(t, err)
	require.GreaterOrEqual(t, posted, 3600+12*10*28, "the history and the trend fill")
	checkTrends(t, "http://"+cfg.AggregatorAddr)
	require.NoError(t, <-done)

	text := out.String()
	require.Contains(t, text, "refused 0")
	require.Contains(t, text, "demo stopped")
	// Live traffic was accepted after the history.
	counts := regexp.MustCompile(`accepted (\d+) events`).FindAllStringSubmatch(text, -1)
	require.NotEmpty(t, counts)
	last, err := strconv.Atoi(counts[len(counts)-1][1])
	require.NoError(t, err)
	require.Greater(t, last, posted, text)
}

// checkTrends waits until the demo's history is applied, then requires
// every point of the 7d and 30d NPS trends of scope all and of every store
// to rest on at least the dashboard's floor of 10 answers.
func checkTrends(t *testing.T, base string) {
	t.Helper()
	series := func(scope, window string) (points []struct{ N *float64 }) {
		resp, err := http.Get(base + "/v1/tenants/demo/series?metric=nps&scope=" + scope + "&window=" + window)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var s struct{ Points []struct{ N *float64 } }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&s))
		return s.Points
	}
	require.Eventually(t, func() bool {
		var st struct{ Lag int64 }
		resp, err := http.Get(base + "/v1/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&st) == nil && st.Lag == 0
	}, 30*time.Second, 50*time.Millisecond, "the history applied")
	scopes := []string{"all"}
	for i := 1; i <= 12; i++ {
		scopes = append(scopes, fmt.Sprintf("store=s%02d", i))
	}
	for _, scope := range scopes {
		for _, w := range []string{"7d", "30d"} {
			points := series(scope, w)
			require.GreaterOrEqual(t, len(points), 28, "%s %s", scope, w)
			for i, p := range points {
				require.NotNil(t, p.N, "%s %s point %d", scope, w, i)
				require.GreaterOrEqual(t, *p.N, 10.0, "%s %s point %d of %d", scope, w, i, len(points))
			}
		}
	}
}

// TestDemoRunsOnEmbeddedRedis runs the demo on the embedded in-process
// Redis, as on a machine without redis-server: the events are applied and
// the scores read back.
func TestDemoRunsOnEmbeddedRedis(t *testing.T) {
	t.Setenv("CXPULSE_REDIS_URL", "")
	addr := func() string { return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) }
	cfg := demo.Config{KafkaAddr: addr(), IngestAddr: addr(), AggregatorAddr: addr(), Rate: 100, Duration: 12 * time.Second, Seed: 3,
		Log: "json", Level: "warn", EmbeddedRedis: true, Traffic: true}
	require.NoError(t, cfg.Validate())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- demo.Run(t.Context(), cfg, zap.NewNop(), &out) }()
	var nps float64
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + cfg.AggregatorAddr + "/v1/tenants/demo/scores?scope=all")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var s struct {
			Windows map[string]map[string]float64 `json:"windows"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&s) != nil {
			return false
		}
		nps = s.Windows["90d"]["nps_responses"]
		return nps > 500
	}, 10*time.Second, 100*time.Millisecond)
	require.NoError(t, <-done)
	text := out.String()
	require.Contains(t, text, "an embedded in-process Redis, as CXPULSE_DEMO_EMBEDDED_REDIS=1")
	require.Regexp(t, `history posted: accepted \d+ events`, text)
	require.Contains(t, text, "demo stopped")
}
