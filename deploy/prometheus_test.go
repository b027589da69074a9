package deploy_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/aggregate"
	"github.com/cxpulse/cxpulse/internal/config"
	"github.com/cxpulse/cxpulse/internal/ingest"
	"github.com/cxpulse/cxpulse/internal/testenv"
)

// TestPrometheusRules checks deploy/prometheus with the real promtool: the
// configuration and rules are valid, the rules' unit tests (input series,
// expected alerts) pass, and every cxpulse metric a rule reads is one the
// services declare.
func TestPrometheusRules(t *testing.T) {
	promtool := testenv.Tool(t, "promtool")
	for _, args := range [][]string{{"check", "config", "prometheus.yml"}, {"check", "rules", "rules.yml"}, {"test", "rules", "rules_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool %s:\n%s", strings.Join(args, " "), out)
	}
	rules, err := os.ReadFile("prometheus/rules.yml")
	require.NoError(t, err)
	declared := declaredMetrics(t)
	used := regexp.MustCompile(`cxpulse_[a-z0-9_]+`).FindAllString(string(rules), -1)
	require.NotEmpty(t, used)
	for _, name := range used {
		require.Contains(t, declared, strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count"),
			"rules.yml reads %s, which no service declares", name)
	}
	doc, err := os.ReadFile("../docs/observability.md")
	require.NoError(t, err)
	for name := range declared {
		require.Contains(t, string(doc), "`"+name+"`", "docs/observability.md does not list %s", name)
	}
}

// services builds the aggregator and ingest on their default settings
// (without auth), not started: for their routes and metrics.
func services(t *testing.T) (*aggregate.Aggregator, *ingest.Server) {
	t.Helper()
	env := map[string]string{"CXPULSE_INSECURE_NO_AUTH": "1"}
	var acfg aggregate.Config
	set := config.NewSet("aggregator", func(k string) string { return env[k] })
	acfg.Register(set)
	require.NoError(t, set.Parse(nil))
	require.NoError(t, acfg.Validate())
	agg, err := aggregate.New(acfg, zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = agg.Close() })
	var icfg ingest.Config
	set = config.NewSet("ingest", func(k string) string { return env[k] })
	icfg.Register(set)
	require.NoError(t, set.Parse(nil))
	require.NoError(t, icfg.Validate())
	ing, err := ingest.New(icfg, zap.NewNop())
	require.NoError(t, err)
	return agg, ing
}

// declaredMetrics lists the cxpulse metric names the Go code declares.
func declaredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	re := regexp.MustCompile(`(?:Name:\s*|NewDesc\()"(cxpulse_[a-z0-9_]+)"`)
	require.NoError(t, filepath.WalkDir("../internal", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			out[string(m[1])] = true
		}
		return nil
	}))
	return out
}

// TestMetricsPassPromtool feeds what both services serve on /metrics to
// promtool check metrics: names, help, types and units by Prometheus's
// conventions.
func TestMetricsPassPromtool(t *testing.T) {
	promtool := testenv.Tool(t, "promtool")
	agg, ing := services(t)
	for name, h := range map[string]http.Handler{"aggregator": agg.Handler(), "ingest": ing.Handler()} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		require.Equal(t, http.StatusOK, rec.Code, name)
		require.Contains(t, rec.Body.String(), "cxpulse_build_info{", name)
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(rec.Body.Bytes())
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", name, out)
		require.Empty(t, strings.TrimSpace(string(out)), "%s: promtool check metrics", name)
	}
}

// TestGrafanaDashboard checks deploy/grafana/cxpulse.json: it imports
// against any Prometheus data source, its panels do not overlap, and every
// cxpulse metric a panel queries is one the services declare. (The
// aggregate tests run every query against a real Prometheus.)
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/cxpulse.json")
	require.NoError(t, err)
	var dash struct {
		Inputs []struct{ Name, PluginID string } `json:"__inputs"`
		UID    string
		Panels []struct {
			GridPos    struct{ H, W, X, Y int }
			Datasource struct{ UID string }
			Targets    []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	require.Equal(t, "cxpulse", dash.UID)
	require.Len(t, dash.Inputs, 1)
	require.Equal(t, "prometheus", dash.Inputs[0].PluginID)
	declared := declaredMetrics(t)
	cells := map[[2]int]bool{}
	queried := 0
	for _, p := range dash.Panels {
		require.Equal(t, "${DS_PROMETHEUS}", p.Datasource.UID)
		require.NotEmpty(t, p.Targets)
		for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
			for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
				require.False(t, cells[[2]int{x, y}], "panels overlap at %d,%d", x, y)
				cells[[2]int{x, y}] = true
			}
		}
		require.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24)
		for _, tg := range p.Targets {
			for _, name := range regexp.MustCompile(`cxpulse_[a-z0-9_]+`).FindAllString(tg.Expr, -1) {
				queried++
				require.Contains(t, declared, strings.TrimSuffix(name, "_bucket"), "the dashboard queries %s, which no service declares", name)
			}
		}
	}
	require.Greater(t, queried, 15)
}
