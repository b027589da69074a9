package deploy_test

import (
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// routes lists "METHOD /path" of a chi handler.
func routes(t *testing.T, h http.Handler) []string {
	t.Helper()
	r, ok := h.(chi.Routes)
	require.True(t, ok, "not a chi router")
	var out []string
	require.NoError(t, chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.ReplaceAll(route, "/*", "/{path}") // a file tree
		if route != "/" {
			route = strings.TrimSuffix(route, "/")
		}
		if strings.HasPrefix(route, "/debug") {
			return nil // the profiler, off by default and not part of the API
		}
		out = append(out, method+" "+route)
		return nil
	}))
	return out
}

// TestOpenAPIMatchesTheHandlers keeps docs/openapi.yaml in step with the
// routes both services serve: every route is documented and every
// documented path is served.
func TestOpenAPIMatchesTheHandlers(t *testing.T) {
	b, err := os.ReadFile("../docs/openapi.yaml")
	require.NoError(t, err)
	var doc struct {
		OpenAPI string                               `yaml:"openapi"`
		Paths   map[string]map[string]map[string]any `yaml:"paths"`
	}
	require.NoError(t, yaml.Unmarshal(b, &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3."))
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}

	agg, ing := services(t)
	served := append(routes(t, agg.Handler()), routes(t, ing.Handler())...)
	slices.Sort(served)
	served = slices.Compact(served) // /healthz and friends are on both
	slices.Sort(documented)
	require.Equal(t, documented, served)
}
