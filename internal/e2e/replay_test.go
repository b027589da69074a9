package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/deadletter"
	"github.com/cxpulse/cxpulse/internal/kafkaconn"
	"github.com/cxpulse/cxpulse/internal/replay"
	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// TestDeadLetterReplay: events of a tenant missing from the tenants file
// are dead-lettered; once the tenant is added, a replay makes them count,
// exactly once, even when the replay is stopped halfway (part of its
// ledger lost) and run again, and when it is run a second time. Events
// still invalid after the fix (purchases in another currency) go back to
// the dead-letter topic once, and the next replay leaves them.
func TestDeadLetterReplay(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tenantsFile := writeTenants(t, "tenants:\n  acme: {}\n")
	_, broker := testenv.Kafka(t, 3, allTopics...)
	rdb, addr := testenv.Redis(t)
	env := func() map[string]string {
		return map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr, "CXPULSE_TENANTS_FILE": tenantsFile}
	}
	in := startAggregator(t, env(), newClock(now))

	var msgs []msg
	final := map[string]*events.Event{}
	for i := range 60 {
		ev := events.Event{ID: fmt.Sprintf("n-%d", i), Tenant: "newco", Type: events.TypeSurveyResponse,
			OccurredAt: now.Add(-time.Duration(i) * time.Hour), Dims: map[string]string{"store": fmt.Sprintf("s%d", i%3)},
			Survey: &events.Survey{Metric: events.MetricNPS, Score: i % 11}}
		msgs = append(msgs, eventMsg(ev))
		final[ev.ID] = msgs[len(msgs)-1].ev
	}
	for i := range 5 { // in USD, while newco reports in EUR: invalid after the fix too
		msgs = append(msgs, eventMsg(events.Event{ID: fmt.Sprintf("p-%d", i), Tenant: "newco", Type: events.TypePurchaseCompleted,
			OccurredAt: now.Add(-time.Hour), CustomerID: "c1", Purchase: &events.Purchase{OrderID: fmt.Sprintf("o-%d", i), Amount: 10, Currency: "USD"}}))
	}
	produce(t, broker, msgs)
	waitApplied(t, in.base)
	reasons := waitDeadLetters(t, broker, 65)
	for _, r := range reasons {
		require.Equal(t, deadletter.ReasonUnknownTenant, r)
	}

	// The fix: newco is added, reporting in EUR.
	in.stop()
	require.NoError(t, os.WriteFile(tenantsFile, []byte("tenants:\n  acme: {}\n  newco: {currency: EUR}\n"), 0o600))
	in = startAggregator(t, env(), newClock(now))

	kc := kafkaconn.Config{Brokers: []string{broker}}
	letters, err := replay.Read(t.Context(), &kc, "cx.deadletter", replay.Filter{Tenant: "newco", Reason: deadletter.ReasonUnknownTenant})
	require.NoError(t, err)
	require.Len(t, letters, 65)
	groups := replay.Groups(letters)
	require.Len(t, groups, 1)
	require.Equal(t, 65, groups[0].Count)
	require.Equal(t, []string{"newco"}, groups[0].Tenants)

	replayOnce := func(ls []replay.Letter) replay.Result {
		t.Helper()
		w := kc.Writer()
		defer w.Close()
		res, err := replay.Replay(t.Context(), ls, w, rdb, replay.Options{})
		require.NoError(t, err)
		return res
	}
	// Stopped halfway: the first 30 went, but the ledger lost the last of
	// them that are answers (they count once anyway, by their ids; a
	// purchase still invalid would go back to cx.deadletter twice).
	require.Equal(t, replay.Result{Replayed: 30}, replayOnce(letters[:30]))
	lost := 0
	for _, l := range letters[15:30] {
		if strings.Contains(l.Value, `"survey.response"`) {
			require.NoError(t, rdb.SRem(t.Context(), keys.Replayed(), l.Position()).Err())
			lost++
		}
	}
	require.Positive(t, lost)
	require.Equal(t, replay.Result{Replayed: 35 + lost, AlreadyReplayed: 30 - lost}, replayOnce(letters))
	waitApplied(t, in.base)
	want := expected(final, now, func(ev *events.Event) []string { return []string{"all", "store=" + ev.Dims["store"]} })
	checkScores(t, in.base, "newco", want)

	// The purchases in USD are dead letters again, once each, marked as
	// coming from a replay.
	again := waitDeadLetters(t, broker, 65+5)
	require.Len(t, again, 70)
	back, err := replay.Read(t.Context(), &kc, "cx.deadletter", replay.Filter{Tenant: "newco", Reason: deadletter.ReasonCurrency})
	require.NoError(t, err)
	require.Len(t, back, 5)
	for _, l := range back {
		require.NotEmpty(t, l.ReplayOf, "a dead letter of a replayed message says so")
	}

	// A second replay of everything changes nothing.
	all, err := replay.Read(t.Context(), &kc, "cx.deadletter", replay.Filter{Tenant: "newco"})
	require.NoError(t, err)
	require.Equal(t, replay.Result{AlreadyReplayed: 65, FromReplay: 5}, replayOnce(all))
	waitApplied(t, in.base)
	checkScores(t, in.base, "newco", want)
	require.Len(t, deadLetterSources(t, broker), 70)
}
