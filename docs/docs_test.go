// Package docs_test checks that docs/architecture.md says what the code
// is: every package in its table, and the read side and the write path
// apart, as the imports show.
package docs_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/cxpulse/cxpulse/"

// goList runs `go list` with args from the module root.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = ".."
	out, err := cmd.Output()
	require.NoError(t, err, "go list %v", args)
	return strings.Fields(string(out))
}

func TestArchitectureListsEveryPackage(t *testing.T) {
	doc, err := os.ReadFile("architecture.md")
	require.NoError(t, err)
	for _, p := range goList(t, "./...") {
		path := strings.TrimPrefix(p, module)
		if path == "docs" {
			continue
		}
		require.Contains(t, string(doc), "`"+path+"`", "docs/architecture.md does not name %s", path)
	}
}

// TestReadSideAndPipelineApart: the read API and the write path never
// import each other, as docs/architecture.md says.
func TestReadSideAndPipelineApart(t *testing.T) {
	require.NotContains(t, goList(t, "-deps", "./internal/api"), module+"internal/pipeline")
	require.NotContains(t, goList(t, "-deps", "./internal/pipeline"), module+"internal/api")
	for _, dep := range goList(t, "-f", `{{join .Imports " "}}`, "./internal/api") {
		if strings.HasPrefix(dep, module+"internal/store") {
			require.Equal(t, module+"internal/store/query", dep, "of the store, the read API imports only its queries")
		}
	}
}
