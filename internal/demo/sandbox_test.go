package demo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/demo"
	"github.com/cxpulse/cxpulse/internal/testenv"
)

// TestSandboxImport runs the demo as the README's sandbox (a tenants file,
// the synthetic traffic off, its Redis at a given address) and imports a
// survey export into it with the README's command, with the sample's rows
// dated in the last hours: the five valid answers are counted, the one
// whose score reads "eleven" is refused, and nothing else is there.
func TestSandboxImport(t *testing.T) {
	testenv.Tool(t, "redis-server")
	t.Setenv("CXPULSE_REDIS_URL", "")
	dir := t.TempDir()
	tenants := filepath.Join(dir, "tenants.yaml")
	require.NoError(t, os.WriteFile(tenants, []byte("tenants:\n  shop: {currency: EUR, timezone: Europe/Bucharest}\n"), 0o600))
	sample, err := os.ReadFile("../../examples/import/survey-responses.csv")
	require.NoError(t, err)
	// The sample's times, moved into the last hours (its zone is the
	// tenant's, Bucharest).
	loc, err := time.LoadLocation("Europe/Bucharest")
	require.NoError(t, err)
	csv := string(sample)
	for i, old := range []string{"2026-11-28 09:12:44", "2026-11-28 17:40:02", "2026-11-29 11:03:10", "2026-11-30 14:22:59", "2026-11-30 19:59:00", "2026-12-01 08:15:31"} {
		csv = strings.Replace(csv, old, time.Now().In(loc).Add(-time.Duration(6-i)*time.Hour).Format(time.DateTime), 1)
	}
	export := filepath.Join(dir, "responses.csv")
	require.NoError(t, os.WriteFile(export, []byte(csv), 0o600))

	addr := func() string { return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) }
	cfg := demo.Config{KafkaAddr: addr(), IngestAddr: addr(), AggregatorAddr: addr(), RedisAddr: addr(), Rate: 40, Duration: time.Minute,
		Seed: 1, Log: "json", Level: "warn", TenantsFile: tenants}
	require.NoError(t, cfg.Validate())
	var out syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- demo.Run(ctx, cfg, zap.NewNop(), &out) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Stop with Ctrl-C") }, 15*time.Second, 50*time.Millisecond)
	banner := out.String()
	require.Contains(t, banner, "Traffic: off (CXPULSE_DEMO_TRAFFIC=off)")
	require.Contains(t, banner, "redis://"+cfg.RedisAddr)
	require.Contains(t, banner, "?tenant=shop")

	// The README's import, against the sandbox's broker and Redis.
	bin := filepath.Join(dir, "cxpulse")
	built, err := exec.Command("go", "build", "-o", bin, "github.com/cxpulse/cxpulse/cmd/cxpulse").CombinedOutput()
	require.NoError(t, err, "%s", built)
	cmd := exec.Command(bin, "import", "--kafka", cfg.KafkaAddr, "--tenant", "shop", "--type", "survey.response", "--metric", "nps",
		"--map", "id=ResponseId", "--map", "occurred_at=RecordedDate", "--map", "score=Q1_NPS", "--map", "comment=Q2_Why",
		"--map", "dims.store=Location", "--map", "customer_id=ExternalReference", "--time-format", "%Y-%m-%d %H:%M:%S", export)
	cmd.Env = append(os.Environ(), "CXPULSE_TENANTS_FILE="+tenants, "CXPULSE_REDIS_URL=redis://"+cfg.RedisAddr)
	summary, err := cmd.Output()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "one row is rejected: exit 2")
	require.Equal(t, 2, exit.ExitCode())
	require.Contains(t, string(summary), "read 6 rows, sent 5, rejected 1")

	base := "http://" + cfg.AggregatorAddr
	require.Eventually(t, func() bool {
		var s struct{ Windows map[string]map[string]float64 }
		resp, err := http.Get(base + "/v1/tenants/shop/scores")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&s) == nil && s.Windows["24h"]["nps_responses"] == 5
	}, 20*time.Second, 100*time.Millisecond, "the five answers counted")
	var list struct{ Tenants []string }
	resp, err := http.Get(base + "/v1/tenants")
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	_ = resp.Body.Close()
	require.Equal(t, []string{"shop"}, list.Tenants, "no synthetic tenant")
}
