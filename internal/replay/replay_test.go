package replay

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
)

func TestFilterAndGroups(t *testing.T) {
	at := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	letters := []Letter{
		{Reason: "too_late", Tenant: "acme", Time: at},
		{Reason: "invalid_event", Tenant: "globex", Time: at.Add(time.Minute)},
		{Reason: "too_late", Tenant: "beta", Time: at.Add(2 * time.Minute)},
		{Reason: "too_late", Tenant: "acme", Time: at.Add(3 * time.Minute)},
		{Reason: "too_late", Tenant: "acme", Time: at.Add(4 * time.Minute)},
	}
	for _, tc := range []struct {
		name string
		f    Filter
		want int
	}{
		{"all", Filter{}, 5},
		{"by reason", Filter{Reason: "too_late"}, 4},
		{"by tenant", Filter{Tenant: "acme"}, 3},
		{"since, inclusive", Filter{Since: at.Add(3 * time.Minute)}, 2},
		{"all three", Filter{Reason: "too_late", Tenant: "acme", Since: at.Add(time.Minute)}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			for i := range letters {
				if tc.f.Match(&letters[i]) {
					n++
				}
			}
			require.Equal(t, tc.want, n)
		})
	}
	groups := Groups(letters)
	require.Len(t, groups, 2)
	require.Equal(t, "too_late", groups[0].Reason, "the largest group first")
	require.Equal(t, 4, groups[0].Count)
	require.Equal(t, []string{"acme", "beta"}, groups[0].Tenants)
	require.Len(t, groups[0].Examples, 3, "at most three examples")
	require.Equal(t, Group{Reason: "invalid_event", Count: 1, Tenants: []string{"globex"}, Examples: letters[1:2]}, groups[1])
}

// TestReplayOnce re-produces letters to their source topics with the
// replay header, skips those it must not (truncated, from a replay, no
// source, an erased customer's), and never sends a letter twice.
func TestReplayOnce(t *testing.T) {
	_, broker := testenv.Kafka(t, 1, "cx.surveys", "cx.tickets")
	rdb, _ := testenv.Redis(t)
	w := &kafka.Writer{Addr: kafka.TCP(broker), BatchTimeout: 10 * time.Millisecond}
	t.Cleanup(func() { _ = w.Close() })
	answer := func(customer string) string {
		return `{"id":"r","type":"survey.response","tenant":"acme","occurred_at":"2026-11-22T11:00:00Z","customer_id":"` + customer +
			`","survey":{"metric":"nps","score":3}}`
	}
	letters := []Letter{
		{Partition: 0, Offset: 0, Key: "acme/c1", Value: answer("c1"), Source: "cx.surveys/0/17"},
		{Partition: 0, Offset: 1, Key: "acme/t1", Value: `{"id":"t"}`, Source: "cx.tickets/0/4"},
		{Partition: 0, Offset: 2, Key: "acme/c2", Value: "x", Source: "cx.surveys/0/18", Truncated: true},
		{Partition: 0, Offset: 3, Key: "acme/c3", Value: answer("c3"), Source: "cx.surveys/0/19", ReplayOf: "cx.surveys/0/2"},
		{Partition: 0, Offset: 4, Key: "acme/c4", Value: answer("c4"), Source: "garbled"},
		{Partition: 0, Offset: 5, Key: "acme/gone", Value: answer("gone"), Source: "cx.surveys/0/20"},
	}
	opts := Options{Erased: func(_ context.Context, ev *events.Event) (bool, error) { return ev.CustomerID == "gone", nil }}

	dry := opts
	dry.DryRun = true
	res, err := Replay(t.Context(), letters, w, rdb, dry)
	require.NoError(t, err)
	require.Equal(t, Result{Replayed: 2, Truncated: 1, FromReplay: 1, NoSource: 1, Erased: 1}, res)
	require.Zero(t, testenv.Count(t, broker, "cx.surveys")+testenv.Count(t, broker, "cx.tickets"), "a dry run writes nothing")

	res, err = Replay(t.Context(), letters, w, rdb, opts)
	require.NoError(t, err)
	require.Equal(t, Result{Replayed: 2, Truncated: 1, FromReplay: 1, NoSource: 1, Erased: 1}, res)
	for topic, source := range map[string]string{"cx.surveys": "cx.surveys/0/17", "cx.tickets": "cx.tickets/0/4"} {
		recs := testenv.Consume(t, broker, topic, 1)
		require.Len(t, recs, 1)
		require.Equal(t, "cxpulse-replay-of", recs[0].Headers[0].Key)
		require.Equal(t, source, string(recs[0].Headers[0].Value))
	}

	res, err = Replay(t.Context(), letters, w, rdb, opts)
	require.NoError(t, err)
	require.Equal(t, Result{AlreadyReplayed: 2, Truncated: 1, FromReplay: 1, NoSource: 1, Erased: 1}, res, "a letter is sent once")
	require.EqualValues(t, 1, testenv.Count(t, broker, "cx.surveys"))
	require.EqualValues(t, 1, testenv.Count(t, broker, "cx.tickets"))
}
