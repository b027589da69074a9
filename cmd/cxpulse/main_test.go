package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/config"
	"github.com/cxpulse/cxpulse/internal/ingest"
	"github.com/cxpulse/cxpulse/internal/kafkaconn"
	"github.com/cxpulse/cxpulse/internal/testenv"
)

type result struct {
	code           int
	stdout, stderr string
}

func cxpulse(t *testing.T, vars map[string]string, stdin string, args ...string) result {
	t.Helper()
	return runWith(t, vars, stdin, nil, args)
}

// cxpulseAt runs a command whose clock reads now.
func cxpulseAt(t *testing.T, vars map[string]string, now time.Time, args ...string) result {
	t.Helper()
	return runWith(t, vars, "", func() time.Time { return now }, args)
}

func runWith(t *testing.T, vars map[string]string, stdin string, now func() time.Time, args []string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, getenv: func(k string) string { return vars[k] }, now: now}
	code := run(t.Context(), e, args)
	return result{code, out.String(), errOut.String()}
}

// TestHelpAndUsageErrors: every command answers -h with its flags and
// exit 0; a bad command, flag or mapping is named, with exit 1.
func TestHelpAndUsageErrors(t *testing.T) {
	r := cxpulse(t, nil, "", "--help")
	require.Equal(t, exitOK, r.code)
	require.Contains(t, r.stderr, "import")
	require.Contains(t, r.stderr, "deadletter")
	for _, args := range [][]string{{"import", "-h"}, {"deadletter", "list", "--help"}, {"deadletter", "replay", "-h"}, {"rebuild", "-h"}, {"erase", "-h"}} {
		r := cxpulse(t, nil, "", args...)
		require.Equal(t, exitOK, r.code, args)
		require.Contains(t, r.stderr, "CXPULSE_KAFKA_BROKERS", args)
		require.Contains(t, r.stderr, "Exit codes", args)
	}
	require.Contains(t, cxpulse(t, nil, "", "import", "-h").stderr, "--map")

	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"frobnicate"}, `"frobnicate" is not a command`},
		{[]string{"import", "--nope", "x.csv"}, "flag provided but not defined: -nope"},
		{[]string{"import", "--tenant", "acme", "--map", "scroe=B", "x.csv"}, `"scroe" is not a field`},
		{[]string{"import", "--tenant", "acme", "--type", "survey.answer", "x.csv"}, `--type "survey.answer"`},
		{[]string{"import", "--tenant", "acme"}, "no FILE given"},
		{[]string{"deadletter", "purge"}, "Usage: cxpulse deadletter"},
	} {
		r := cxpulse(t, nil, "", tc.args...)
		require.Equal(t, exitFailed, r.code, tc.args)
		require.Contains(t, r.stderr, tc.says, tc.args)
	}
}

// TestImportCommand runs the command against kfake and a real Redis: a
// file with one bad row exits 2 and names it; stdin works; the same rows
// again are skipped; a mapping whose column is missing exits 1 naming it.
func TestImportCommand(t *testing.T) {
	_, broker := testenv.Kafka(t, 2, "cx.surveys", "cx.tickets", "cx.purchases", "cx.deadletter")
	_, addr := testenv.Redis(t)
	vars := map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}
	dir := t.TempDir()
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second).Format(time.RFC3339)
	csv := fmt.Sprintf("when,score,store\n%s,9,s1\n%s,12,s1\n%s,3,s2\n", at, at, at)
	file := filepath.Join(dir, "nps.csv")
	require.NoError(t, os.WriteFile(file, []byte(csv), 0o600))
	rejects := filepath.Join(dir, "rejects.csv")
	args := []string{"import", "--tenant", "acme", "--type", "survey.response", "--metric", "nps",
		"--map", "occurred_at=when", "--map", "score=score", "--map", "dims.store=store", "--rejects", rejects}

	r := cxpulse(t, vars, "", append(args, file)...)
	require.Equal(t, exitPartial, r.code, r.stderr)
	require.Contains(t, r.stdout, "read 3 rows, sent 2, rejected 1, skipped 0")
	b, err := os.ReadFile(rejects)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("line,field,reason,when,score,store\n3,survey.score,12 is outside 0-10 for nps,%s,12,s1\n", at), string(b))
	require.Equal(t, int64(2), testenv.Count(t, broker, "cx.surveys"))

	// The same rows from stdin: nothing sent again.
	r = cxpulse(t, vars, csv, append(args, "--format", "csv", "-")...)
	require.Equal(t, exitPartial, r.code, r.stderr)
	require.Contains(t, r.stdout, "read 3 rows, sent 0, rejected 1, skipped 2 as already imported")
	require.Equal(t, int64(2), testenv.Count(t, broker, "cx.surveys"))

	r = cxpulse(t, vars, "", "import", "--tenant", "acme", "--type", "survey.response", "--metric", "nps", "--map", "occurred_at=submitted", file)
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, `occurred_at: column "submitted" is not in the header`)

	// Clean rows exit 0.
	clean := filepath.Join(dir, "clean.csv")
	require.NoError(t, os.WriteFile(clean, []byte(fmt.Sprintf("when,score,store\n%s,10,s3\n", at)), 0o600))
	r = cxpulse(t, vars, "", append(args, clean)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "sent 1")

	// The dead-letter topic is empty: list says so.
	r = cxpulse(t, vars, "", "deadletter", "list")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "0 dead letters")
}

// TestImportThroughIngest: --ingest posts the rows to a real ingest
// service (partial batches), which writes them to Kafka.
func TestImportThroughIngest(t *testing.T) {
	_, broker := testenv.Kafka(t, 2, "cx.surveys", "cx.tickets", "cx.purchases", "cx.deadletter")
	_, addr := testenv.Redis(t)
	cfg := ingest.Config{Kafka: kafkaconn.Config{Brokers: []string{broker}}, Common: config.Common{TopicPrefix: "cx.", InsecureNoAuth: true, Log: "json"},
		HTTPAddr: "127.0.0.1:0", RateBurst: ingest.MaxEvents, WriteTimeout: 3 * time.Second, ShutdownTimeout: time.Second}
	require.NoError(t, cfg.Validate())
	s, err := ingest.New(cfg, zap.NewNop())
	require.NoError(t, err)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { srv.Close(); _ = s.Close() })

	file := answersCSV(t, 2500)
	vars := map[string]string{"CXPULSE_REDIS_URL": "redis://" + addr}
	r := cxpulse(t, vars, "", "import", "--tenant", "acme", "--type", "survey.response", "--metric", "nps",
		"--map", "occurred_at=when", "--map", "score=score", "--ingest", srv.URL, "--key", "any", file)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "read 2500 rows, sent 2500, rejected 0")
	require.Equal(t, int64(2500), testenv.Count(t, broker, "cx.surveys"))

	r = cxpulse(t, vars, "", "import", "--tenant", "acme", "--type", "survey.response", "--metric", "nps",
		"--map", "occurred_at=when", "--map", "score=score", "--ingest", srv.URL, file)
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, "--ingest needs --key")
}

// TestImportNDJSON: NDJSON of the event contract, checked strictly; an
// event of another tenant than --tenant and an invalid one are rejected
// with the whole line kept.
func TestImportNDJSON(t *testing.T) {
	_, broker := testenv.Kafka(t, 2, "cx.surveys", "cx.tickets", "cx.purchases", "cx.deadletter")
	_, addr := testenv.Redis(t)
	vars := map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second).Format(time.RFC3339)
	line := func(id, tenant string, score int) string {
		return fmt.Sprintf(`{"id":%q,"type":"survey.response","tenant":%q,"occurred_at":%q,"survey":{"metric":"nps","score":%d}}`, id, tenant, at, score)
	}
	body := strings.Join([]string{line("n-1", "acme", 9), "", line("n-2", "globex", 9), line("n-3", "acme", 42), line("n-4", "acme", 0)}, "\n") + "\n"
	dir := t.TempDir()
	file := filepath.Join(dir, "events.jsonl")
	require.NoError(t, os.WriteFile(file, []byte(body), 0o600))
	rejects := filepath.Join(dir, "rejects.csv")
	r := cxpulse(t, vars, "", "import", "--tenant", "acme", "--rejects", rejects, file)
	require.Equal(t, exitPartial, r.code, r.stderr)
	require.Contains(t, r.stdout, "read 4 rows, sent 2, rejected 2")
	b, err := os.ReadFile(rejects)
	require.NoError(t, err)
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, [][]string{
		{"line", "field", "reason", "event"},
		{"3", "tenant", `"globex" is not the tenant imported (--tenant acme)`, line("n-2", "globex", 9)},
		{"4", "survey.score", "42 is outside 0-10 for nps", line("n-3", "acme", 42)},
	}, recs)
	require.Equal(t, int64(2), testenv.Count(t, broker, "cx.surveys"))
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	got, err := parseSince("7d", now)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), got)
	got, err = parseSince("2026-12-01T00:00:00Z", now)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), got)
	_, err = parseSince("last week", now)
	require.ErrorContains(t, err, `--since "last week"`)
}

// TestRebuildCommand: a rebuild refuses, naming the partition, when
// retention deleted the start of a log the tenant's periods still need;
// with --accept-gap (and --no-wait) it drops the tenant's state, keeps its
// import ledger and its dimension values, and asks the group to rewind.
func TestRebuildCommand(t *testing.T) {
	_, broker := testenv.Kafka(t, 1, "cx.surveys", "cx.tickets", "cx.purchases", "cx.deadletter")
	rdb, addr := testenv.Redis(t)
	vars := map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}
	file := answersCSV(t, 20)
	r := cxpulse(t, vars, "", "import", "--tenant", "acme", "--type", "survey.response", "--metric", "nps", "--map", "occurred_at=when", "--map", "score=score", file)
	require.Equal(t, exitOK, r.code, r.stderr)
	testenv.DeleteRecords(t, broker, "cx.surveys", 0, 5)
	ctx := t.Context()
	for _, k := range []string{"cxpulse:{acme}:s:all", "cxpulse:{acme}:dim:store", "cxpulse:{globex}:s:all"} {
		require.NoError(t, rdb.HSet(ctx, k, "v", 1).Err())
	}

	r = cxpulse(t, vars, "", "rebuild", "--tenant", "acme")
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, "cx.surveys/0: the log starts at offset 5")
	require.Equal(t, int64(1), rdb.Exists(ctx, "cxpulse:{acme}:s:all").Val(), "a refused rebuild drops nothing")

	r = cxpulse(t, vars, "", "rebuild", "--tenant", "acme", "--accept-gap", "--no-wait")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "rewind 1 asked of group cxpulse-aggregator")
	require.Zero(t, rdb.Exists(ctx, "cxpulse:{acme}:s:all").Val())
	require.Equal(t, int64(1), rdb.Exists(ctx, "cxpulse:{acme}:dim:store").Val())
	require.Equal(t, int64(20), rdb.HLen(ctx, "cxpulse:{acme}:imported:v2").Val(), "the import ledger is kept")
	require.Equal(t, int64(1), rdb.Exists(ctx, "cxpulse:{globex}:s:all").Val())
	require.Equal(t, map[string]string{"reset": "1"}, rdb.HGetAll(ctx, "cxpulse:{acme}:wm").Val())
	require.Equal(t, "1", rdb.Get(ctx, "cxpulse:{rewind:cxpulse-aggregator}").Val())

	r = cxpulse(t, vars, "", "rebuild")
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, "give --tenant T (one or more) or --all")
}

// answersCSV writes n rows of (when, score) an hour old and returns the
// file.
func answersCSV(t *testing.T, n int) string {
	t.Helper()
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second).Format(time.RFC3339)
	var b strings.Builder
	b.WriteString("when,score\n")
	for i := range n {
		fmt.Fprintf(&b, "%s,%d\n", at, i%11)
	}
	file := filepath.Join(t.TempDir(), "answers.csv")
	require.NoError(t, os.WriteFile(file, []byte(b.String()), 0o600))
	return file
}
