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
	cfg := demo.Config{KafkaAddr: addr(), IngestAddr: addr(), AggregatorAddr: addr(), Rate: 200, Duration: 8 * time.Second, Seed: 3, Log: "json", Level: "warn"}
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
	require.NoError(t, <-done)

	text := out.String()
	require.Contains(t, text, "history posted: accepted 3600 events")
	require.Contains(t, text, "refused 0")
	require.Contains(t, text, "demo stopped")
	// Live traffic was accepted after the history.
	counts := regexp.MustCompile(`accepted (\d+) events`).FindAllStringSubmatch(text, -1)
	require.NotEmpty(t, counts)
	last, err := strconv.Atoi(counts[len(counts)-1][1])
	require.NoError(t, err)
	require.Greater(t, last, 3600, text)
}

// TestDemoRunsOnEmbeddedRedis runs the demo on the embedded in-process
// Redis, as on a machine without redis-server: the events are applied and
// the scores read back.
func TestDemoRunsOnEmbeddedRedis(t *testing.T) {
	t.Setenv("CXPULSE_REDIS_URL", "")
	addr := func() string { return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) }
	cfg := demo.Config{KafkaAddr: addr(), IngestAddr: addr(), AggregatorAddr: addr(), Rate: 100, Duration: 12 * time.Second, Seed: 3,
		Log: "json", Level: "warn", EmbeddedRedis: true}
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
	require.Contains(t, text, "history posted: accepted 3600 events")
	require.Contains(t, text, "demo stopped")
}
