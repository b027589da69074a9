package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// importEnv starts kfake and a real Redis for the import commands.
func importEnv(t *testing.T) (vars map[string]string, broker, dir string) {
	t.Helper()
	_, broker = testenv.Kafka(t, 1, "cx.surveys", "cx.tickets", "cx.purchases", "cx.deadletter")
	_, addr := testenv.Redis(t)
	return map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}, broker, t.TempDir()
}

// writeFile writes a sample file into dir and returns its path.
func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

// sentEvents decodes the n events on a topic, in order.
func sentEvents(t *testing.T, broker, topic string, n int) []events.Event {
	t.Helper()
	var out []events.Event
	for _, r := range testenv.Consume(t, broker, topic, n) {
		var ev events.Event
		require.NoError(t, json.Unmarshal(r.Value, &ev))
		out = append(out, ev)
	}
	return out
}

// TestImportCorrectionsNeedAnID: a revision column with no id column is
// refused before anything is sent (a derived id includes the changed
// score, so the correction would be a second answer); with --id-columns
// the corrected row keeps the id of the row it corrects. An NDJSON event
// with a revision and no id is rejected: the contract wants an id.
func TestImportCorrectionsNeedAnID(t *testing.T) {
	vars, broker, dir := importEnv(t)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second).Format(time.RFC3339)
	first := writeFile(t, dir, "v0.csv", "customer,when,score,rev\nc1,"+at+",3,0\nc2,"+at+",9,0\n")
	fixed := writeFile(t, dir, "v1.csv", "customer,when,score,rev\nc1,"+at+",10,1\n")
	args := []string{"import", "--tenant", "acme", "--type", "survey.response", "--metric", "nps",
		"--map", "customer_id=customer", "--map", "occurred_at=when", "--map", "score=score", "--map", "revision=rev"}

	r := cxpulse(t, vars, "", append(args, first)...)
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, "--map id=COLUMN")
	require.Contains(t, r.stderr, "--id-columns")
	require.Zero(t, testenv.Count(t, broker, "cx.surveys"), "refused before anything is sent")

	byRow := append(args, "--id-columns", "customer,when")
	r = cxpulse(t, vars, "", append(byRow, first)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	r = cxpulse(t, vars, "", append(byRow, fixed)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "read 1 rows, sent 1,")
	sent := sentEvents(t, broker, "cx.surveys", 3)
	require.Equal(t, "c1", sent[0].CustomerID)
	require.Equal(t, 3, sent[0].Survey.Score)
	require.Equal(t, 10, sent[2].Survey.Score)
	require.Equal(t, int64(1), sent[2].Revision)
	require.Equal(t, sent[0].ID, sent[2].ID, "the correction names the answer it corrects")
	require.NotEqual(t, sent[0].ID, sent[1].ID)

	nd := writeFile(t, dir, "fix.ndjson", `{"tenant":"acme","type":"survey.response","occurred_at":"`+at+`","revision":1,"survey":{"metric":"nps","score":10}}`+"\n")
	rejects := filepath.Join(dir, "rejects.csv")
	r = cxpulse(t, vars, "", "import", "--rejects", rejects, nd)
	require.Equal(t, exitPartial, r.code, r.stderr)
	b, err := os.ReadFile(rejects)
	require.NoError(t, err)
	require.Contains(t, string(b), "1,id,required")
}

// TestImportZone: with no --timezone and no tenants file listing the
// tenant, a time without an offset (here on the third row, after two with
// offsets) refuses the import before anything is sent, naming
// --timezone; with --timezone the rows are read in that zone and the
// summary says so. A tenant no import sent events of is reported new.
func TestImportZone(t *testing.T) {
	vars, broker, dir := importEnv(t)
	day := time.Now().UTC().AddDate(0, 0, -3).Format("2006-01-02")
	file := writeFile(t, dir, "rome.csv", "when,score\n"+day+"T08:00:00Z,9\n"+day+"T09:00:00+01:00,9\n"+day+" 10:00:00,9\n")
	args := []string{"import", "--tenant", "acme", "--type", "survey.response", "--metric", "nps",
		"--map", "occurred_at=when", "--map", "score=score"}

	r := cxpulse(t, vars, "", append(args, file)...)
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, `line 4: occurred_at "`+day+` 10:00:00" has no offset`)
	require.Contains(t, r.stderr, "give --timezone")
	require.Zero(t, testenv.Count(t, broker, "cx.surveys"), "refused before anything is sent")

	r = cxpulse(t, vars, "", append(args, "--time-format", "%Y-%m-%d %H:%M:%S", file)...)
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, `--time-format "%Y-%m-%d %H:%M:%S" reads times without an offset`)

	r = cxpulse(t, vars, "", append(args, "--timezone", "Europe/Rome", file)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "zone of times without an offset: Europe/Rome (--timezone)")
	require.Contains(t, r.stdout, `tenant "acme" is new`)
	sent := sentEvents(t, broker, "cx.surveys", 3)
	// Rome is UTC+1 outside summer time (and +2 within): 10:00 there is
	// 09:00 or 08:00 UTC.
	rome, err := time.LoadLocation("Europe/Rome")
	require.NoError(t, err)
	local, err := time.ParseInLocation("2006-01-02 15:04:05", day+" 10:00:00", rome)
	require.NoError(t, err)
	_, offset := local.Zone()
	require.Equal(t, time.Date(local.Year(), local.Month(), local.Day(), 10, 0, 0, 0, time.UTC).Add(-time.Duration(offset)*time.Second), sent[2].OccurredAt.UTC())

	offsets := writeFile(t, dir, "utc.csv", "when,score\n"+day+"T11:00:00Z,7\n")
	r = cxpulse(t, vars, "", append(args, offsets)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "every time carried its offset: no zone was needed")
	require.NotContains(t, r.stdout, "is new", "acme was imported before")
}

// TestImportConflicts: one review export imported as NPS and then as
// CSAT under the same id column: the CSAT rows' ids were sent for other
// events, so they are conflicts (not sent, counted, the first named, exit
// 2), never "already imported"; with --id-suffix they are sent.
func TestImportConflicts(t *testing.T) {
	vars, broker, dir := importEnv(t)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second).Format(time.RFC3339)
	file := writeFile(t, dir, "reviews.csv", "review,when,recommend,rating\nr1,"+at+",9,5\nr2,"+at+",2,1\nr3,"+at+",7,4\n")
	common := []string{"import", "--tenant", "acme", "--type", "survey.response", "--map", "id=review", "--map", "occurred_at=when"}

	r := cxpulse(t, vars, "", append(common, "--metric", "nps", "--map", "score=recommend", file)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "read 3 rows, sent 3, rejected 0, skipped 0")

	csat := append(common, "--metric", "csat", "--map", "score=rating", file)
	r = cxpulse(t, vars, "", csat...)
	require.Equal(t, exitPartial, r.code, r.stderr)
	require.Contains(t, r.stdout, "read 3 rows, sent 0, rejected 0, skipped 0 as already imported")
	require.Contains(t, r.stdout, "3 rows were not sent: an earlier import sent their id and revision for another event (first: line 2, id r1)")
	require.Contains(t, r.stdout, "--id-suffix")
	require.Equal(t, int64(3), testenv.Count(t, broker, "cx.surveys"))

	r = cxpulse(t, vars, "", append(csat, "--id-suffix", ":csat")...)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "sent 3,")
	sent := sentEvents(t, broker, "cx.surveys", 6)
	require.Equal(t, "r1:csat", sent[3].ID)
	require.Equal(t, events.Metric("csat"), sent[3].Survey.Metric)

	// The NPS rows again: the same events, skipped.
	r = cxpulse(t, vars, "", append(common, "--metric", "nps", "--map", "score=recommend", file)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "sent 0, rejected 0, skipped 3 as already imported")
}

// TestCommandsNameTheirRedis: no command has a default Redis (a forgotten
// CXPULSE_REDIS_URL would read and write whatever Redis the machine
// reaches), and one that cannot be reached is one line.
func TestCommandsNameTheirRedis(t *testing.T) {
	_, broker := testenv.Kafka(t, 1, "cx.surveys", "cx.tickets", "cx.purchases", "cx.deadletter")
	dir := t.TempDir()
	file := writeFile(t, dir, "a.csv", "when,score\n2026-01-01T00:00:00Z,9\n")
	imp := []string{"import", "--tenant", "acme", "--type", "survey.response", "--metric", "nps", "--map", "occurred_at=when", "--map", "score=score", file}
	for _, args := range [][]string{imp, {"deadletter", "replay"}, {"rebuild", "--tenant", "acme"}, {"erase", "--tenant", "acme", "c1"}} {
		r := cxpulse(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker}, "", args...)
		require.Equal(t, exitFailed, r.code, args)
		require.Contains(t, r.stderr, "CXPULSE_REDIS_URL is not set", args)
	}
	r := cxpulse(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": fmt.Sprintf("redis://127.0.0.1:%d", testenv.FreePort(t))}, "", imp...)
	require.Equal(t, exitFailed, r.code)
	require.Equal(t, 1, strings.Count(strings.TrimSpace(r.stderr), "\n")+1, r.stderr)
	require.Contains(t, r.stderr, "cannot reach Redis at 127.0.0.1:")
}
