package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/erasure"
	"github.com/cxpulse/cxpulse/internal/kafkaconn"
	"github.com/cxpulse/cxpulse/internal/testenv"
)

// TestEraseCommand: ids come as arguments and from a file; each gets a
// receipt (a customer with nothing counted retracts nothing), a second
// erasure answers the first receipt, cx.erasures holds no plain id, a
// later import skips the erased customer's past rows but sends a row that
// occurred after the erasure, and a replay keeps their dead letters back.
func TestEraseCommand(t *testing.T) {
	_, broker := testenv.Kafka(t, 2, "cx.surveys", "cx.tickets", "cx.purchases", "cx.deadletter")
	_, addr := testenv.Redis(t)
	vars := map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}
	receipts := func(out string) []erasure.Receipt {
		var recs []erasure.Receipt
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var r erasure.Receipt
			require.NoError(t, json.Unmarshal([]byte(line), &r), line)
			recs = append(recs, r)
		}
		return recs
	}
	r := cxpulse(t, vars, "alice-77\n\nbob-88\n", "erase", "--tenant", "acme", "--file", "-", "carol-99")
	require.Equal(t, exitOK, r.code, r.stderr)
	recs := receipts(r.stdout)
	require.Len(t, recs, 3)
	require.Equal(t, []string{"carol-99", "alice-77", "bob-88"}, []string{recs[0].Customer, recs[1].Customer, recs[2].Customer})
	for _, rec := range recs {
		require.Equal(t, "acme", rec.Tenant)
		require.Zero(t, rec.EventsRetracted)
		require.False(t, rec.AlreadyErased)
		require.Contains(t, rec.Note, "without a customer_id")
	}
	require.Contains(t, r.stderr, "erased 3 customers of acme, 0 of them erased before")

	r = cxpulse(t, vars, "", "erase", "--tenant", "acme", "alice-77")
	require.Equal(t, exitOK, r.code, r.stderr)
	again := receipts(r.stdout)[0]
	require.True(t, again.AlreadyErased)
	require.True(t, again.ErasedAt.Equal(recs[1].ErasedAt))

	for _, rec := range testenv.Consume(t, broker, "cx.erasures", 4) {
		for _, id := range []string{"alice-77", "bob-88", "carol-99"} {
			require.NotContains(t, string(rec.Key)+string(rec.Value), id)
		}
	}

	// Rows of alice from before the erasure are skipped; one that
	// occurred after it is sent.
	past := recs[1].ErasedAt.Add(-time.Hour).Format(time.RFC3339)
	later := time.Now().UTC().Add(time.Minute).Format(time.RFC3339)
	file := filepath.Join(t.TempDir(), "again.csv")
	require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf("when,score,customer\n%s,9,alice-77\n%s,3,dave-11\n%s,8,alice-77\n", past, past, later)), 0o600))
	r = cxpulse(t, vars, "", "import", "--tenant", "acme", "--type", "survey.response", "--metric", "nps",
		"--map", "occurred_at=when", "--map", "score=score", "--map", "customer_id=customer", file)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "read 3 rows, sent 2, rejected 0")
	require.Contains(t, r.stdout, "1 rows of erased customers were skipped")

	// A dead letter of alice from before the erasure is kept back by a
	// replay; bob's, from after his (none: he was erased), and dave's go.
	letter := func(id, customer, at string) kafka.Message {
		return kafka.Message{Topic: "cx.deadletter", Key: []byte("acme/" + customer),
			Value:   []byte(fmt.Sprintf(`{"id":%q,"type":"survey.response","tenant":"acme","occurred_at":%q,"customer_id":%q,"survey":{"metric":"nps","score":7}}`, id, at, customer)),
			Headers: []kafka.Header{{Key: "cxpulse-error", Value: []byte("unknown_tenant")}, {Key: "cxpulse-source", Value: []byte("cx.surveys/0/" + id)}}}
	}
	w := (&kafkaconn.Config{Brokers: []string{broker}}).Writer()
	require.NoError(t, w.WriteMessages(t.Context(), letter("1", "alice-77", past), letter("2", "dave-11", past)))
	require.NoError(t, w.Close())
	surveys := testenv.Count(t, broker, "cx.surveys")
	r = cxpulse(t, vars, "", "deadletter", "replay")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "replayed 1 of 2 dead letters")
	require.Contains(t, r.stdout, "1 dead letters of erased customers were kept back")
	require.Equal(t, surveys+1, testenv.Count(t, broker, "cx.surveys"))

	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"erase", "alice-77"}, `--tenant "": not a tenant name`},
		{[]string{"erase", "--tenant", "acme"}, "no customer given"},
		{[]string{"erase", "--tenant", "acme", "--file", "/nonexistent/ids.txt"}, "--file: open /nonexistent/ids.txt"},
	} {
		r := cxpulse(t, vars, "", tc.args...)
		require.Equal(t, exitFailed, r.code, tc.args)
		require.Contains(t, r.stderr, tc.says, tc.args)
	}
}
