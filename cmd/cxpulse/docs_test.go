package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/testenv"
)

// documented is one command of docs/import.md and the summary printed
// under it.
type documented struct {
	args    []string
	summary []string
}

// documentedImports reads docs/import.md: each sh block's cxpulse import
// commands (continued lines joined), and the lines of the plain block
// after it; the export line names the tenants file.
func documentedImports(t *testing.T, doc string) (cmds []documented, tenantsFile string) {
	t.Helper()
	blocks := regexp.MustCompile("(?s)```(\\w*)\n(.*?)```").FindAllStringSubmatch(doc, -1)
	for i, b := range blocks {
		if b[1] != "sh" {
			continue
		}
		text := strings.ReplaceAll(b[2], "\\\n", " ")
		var here []documented
		for _, line := range strings.Split(text, "\n") {
			if v, ok := strings.CutPrefix(line, "export CXPULSE_TENANTS_FILE="); ok {
				tenantsFile = v
			}
			if strings.HasPrefix(line, "cxpulse import ") {
				here = append(here, documented{args: shellWords(t, strings.TrimPrefix(line, "cxpulse "))})
			}
		}
		if len(here) == 0 {
			continue
		}
		require.Less(t, i+1, len(blocks), "the summary after %q", here[0].args)
		// Each summary line and the lines under it, up to the next one,
		// are one command's output, in order.
		k := -1
		for _, l := range strings.Split(strings.TrimSpace(blocks[i+1][2]), "\n") {
			if strings.HasPrefix(l, "read ") {
				k++
			}
			require.GreaterOrEqual(t, k, 0, "output before the first summary after %q", here[0].args)
			require.Less(t, k, len(here), "more summaries than commands after %q", here[0].args)
			here[k].summary = append(here[k].summary, l)
		}
		require.Equal(t, len(here)-1, k, "one summary per command after %q", here[0].args)
		cmds = append(cmds, here...)
	}
	return cmds, tenantsFile
}

// shellWords splits a command line as sh would for plain words and
// single- or double-quoted ones.
func shellWords(t *testing.T, s string) []string {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	require.Zero(t, quote, "unclosed quote in %q", s)
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

var seconds = regexp.MustCompile(`in [0-9.]+ s$`)

// TestDocumentedImports runs the ready mappings of docs/import.md on
// their sample files: each summary and exit code is the one the document
// shows.
func TestDocumentedImports(t *testing.T) {
	doc, err := os.ReadFile("../../docs/import.md")
	require.NoError(t, err)
	cmds, tenantsFile := documentedImports(t, string(doc))
	require.Len(t, cmds, 4)
	require.NotEmpty(t, tenantsFile)
	_, broker := testenv.Kafka(t, 2, "cx.surveys", "cx.tickets", "cx.purchases", "cx.deadletter")
	_, addr := testenv.Redis(t)
	out := t.TempDir()
	t.Chdir("../..")
	vars := map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr, "CXPULSE_TENANTS_FILE": tenantsFile}
	for _, c := range cmds {
		args := append([]string(nil), c.args...)
		for i := range args {
			if i > 0 && args[i-1] == "--rejects" {
				args[i] = filepath.Join(out, args[i])
			}
		}
		r := cxpulseAt(t, vars, time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC), args...)
		got := strings.Split(strings.TrimSpace(r.stdout), "\n")
		var want []string
		for _, l := range c.summary {
			if !strings.HasPrefix(l, "the rejected rows") {
				want = append(want, seconds.ReplaceAllString(l, "in S s"))
			}
		}
		var gotLines []string
		for _, l := range got {
			if !strings.HasPrefix(l, "the rejected rows") {
				gotLines = append(gotLines, seconds.ReplaceAllString(l, "in S s"))
			}
		}
		require.Equal(t, want, gotLines, "%q: %s", args, r.stderr)
		code := exitOK
		if !strings.Contains(want[0], "rejected 0,") {
			code = exitPartial
		}
		require.Equal(t, code, r.code, "%q", args)
	}
	b, err := os.ReadFile(filepath.Join(out, "survey-rejects.csv"))
	require.NoError(t, err)
	require.Contains(t, string(b), `survey.score,"""eleven"" is not an integer (column ""Q1_NPS"")"`)
	b, err = os.ReadFile(filepath.Join(out, "order-rejects.csv"))
	require.NoError(t, err)
	require.Contains(t, string(b), "purchase.currency")
	require.Contains(t, string(b), "#1004")
	require.Equal(t, int64(5), testenv.Count(t, broker, "cx.surveys"))
	require.Equal(t, int64(7), testenv.Count(t, broker, "cx.tickets"))
	require.Equal(t, int64(4), testenv.Count(t, broker, "cx.purchases"))
}
