package publish

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/deadletter"
	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/outbox"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// TestScopeMovedDuringAPublishStaysDirty: a scope applied to again after
// the publisher read its dirty mark (so after its alerts were evaluated
// from older counters) stays dirty, even though the view it then reads
// and publishes is the newer one; the next round evaluates and publishes
// it again and only then clears it.
func TestScopeMovedDuringAPublishStaysDirty(t *testing.T) {
	ctx := t.Context()
	rdb, _ := testenv.Redis(t)
	_, broker := testenv.Kafka(t, 1, "cx.scores")
	ws, err := window.Parse("1h,24h")
	require.NoError(t, err)
	st := store.New(rdb, ws, 24*time.Hour)
	w := events.NewWriter([]string{broker})
	t.Cleanup(func() { _ = w.Close() })
	now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	p := New(Config{Windows: ws, TopicPrefix: "cx."},
		Parts{Store: st, Writer: w, Registry: prometheus.NewRegistry(), Now: func() time.Time { return now }}, zap.NewNop())

	var detractor stats.Counters
	detractor[stats.NPSResponses], detractor[stats.NPSDetractors] = 1, 1
	apply := func(offset int64, id string) { applyAnswer(t, st, ws, "acme", now, offset, id, detractor) }

	apply(0, "a")
	read, err := st.Dirty(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"all": "1"}, read)
	apply(1, "b") // lands between the read (and the alerts) and the view
	require.NoError(t, p.publishScores(ctx, "acme", read))
	dirty, err := st.Dirty(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"all": "2"}, dirty, "the scope moved past the mark its alerts were evaluated at")

	require.NoError(t, p.publishScores(ctx, "acme", dirty))
	dirty, err = st.Dirty(ctx, "acme")
	require.NoError(t, err)
	require.Empty(t, dirty)
	require.EqualValues(t, 2, testenv.Count(t, broker, "cx.scores"))
}

// TestEverySinkQueueIsKnown: every sink fed from a queue is one whose
// queue an erasure reads (outbox.Sinks).
func TestEverySinkQueueIsKnown(t *testing.T) {
	sinks := newSinks(Config{AlertmanagerURL: "http://am", AlertWebhookURL: "http://hook", PagerDutyRoutingKey: "k", PagerDutyURL: "http://pd"})
	require.Len(t, sinks, 3)
	for _, s := range sinks {
		require.Contains(t, outbox.Sinks, s.Name())
	}
}

// TestRoundsVisitWhatChanged: between walks of every tenant, a publish
// round visits only the tenants whose views changed since the last round
// (and those with live alerts or a failure): with fifty tenants applied to
// once, a round after one of them changes again publishes that tenant's
// scope alone, and an idle round visits none; the next walk visits all.
func TestRoundsVisitWhatChanged(t *testing.T) {
	ctx := t.Context()
	rdb, _ := testenv.Redis(t)
	_, broker := testenv.Kafka(t, 1, "cx.scores", "cx.alerts", "cx.deadletter")
	ws, err := window.Parse("1h,24h")
	require.NoError(t, err)
	st := store.New(rdb, ws, 24*time.Hour)
	w := events.NewWriter([]string{broker})
	t.Cleanup(func() { _ = w.Close() })
	reg, err := tenants.Load("")
	require.NoError(t, err)
	now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	metrics := prometheus.NewRegistry()
	p := New(Config{Windows: ws, TopicPrefix: "cx.", GroupID: "g", EmitInterval: time.Second},
		Parts{Store: st, Outbox: outbox.New(rdb), Tenants: reg, Writer: w, Letters: deadletter.NewWriter(w, "cx."),
			Registry: metrics, Now: func() time.Time { return now }, Instance: "i1"}, zap.NewNop())

	var promoter stats.Counters
	promoter[stats.NPSResponses], promoter[stats.NPSPromoters] = 1, 1
	offsets := map[string]int64{}
	apply := func(tenant string) {
		t.Helper()
		off := offsets[tenant]
		offsets[tenant]++
		applyAnswer(t, st, ws, tenant, now, off, fmt.Sprintf("%s-%d", tenant, off), promoter)
	}
	visited := func() (rounds uint64, tenants float64) { return histogram(t, metrics, "cxpulse_publish_round_tenants") }
	for i := range 50 {
		require.NoError(t, st.AddTenant(ctx, fmt.Sprintf("t%02d", i)))
		apply(fmt.Sprintf("t%02d", i))
	}
	require.NoError(t, p.publishRound(ctx)) // the first round walks every tenant
	require.EqualValues(t, 50, testenv.Count(t, broker, "cx.scores"))
	rounds, sum := visited()
	require.Zero(t, rounds, "a walk is not a round between walks")

	apply("t07")
	require.NoError(t, p.publishRound(ctx))
	require.EqualValues(t, 51, testenv.Count(t, broker, "cx.scores"), "t07's scope, once more")
	rounds, sum = visited()
	require.Equal(t, []float64{1, 1}, []float64{float64(rounds), sum}, "one round, one tenant visited")

	require.NoError(t, p.publishRound(ctx))
	rounds, sum = visited()
	require.Equal(t, []float64{2, 1}, []float64{float64(rounds), sum}, "an idle round visits no tenant")

	p.round.walked = time.Now().Add(-fullWalkEvery)
	apply("t08")
	require.NoError(t, p.publishRound(ctx))
	require.EqualValues(t, 52, testenv.Count(t, broker, "cx.scores"))
	rounds, _ = visited()
	require.EqualValues(t, 2, rounds, "the walk came instead of a round")
}

// histogram reads the count and sum of a histogram metric.
func histogram(t *testing.T, reg *prometheus.Registry, name string) (count uint64, sum float64) {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	return 0, 0
}

// applyAnswer applies one answer of tenant, ten minutes before now, at
// offset of partition cx.surveys/0, to scope all in windows 0 and 1.
func applyAnswer(t *testing.T, st *store.Store, ws []window.Window, tenant string, now time.Time, offset int64, id string, c stats.Counters) {
	t.Helper()
	at := now.Add(-10 * time.Minute)
	res, err := st.Apply(t.Context(), &store.Slice{Tenant: tenant, Now: now,
		Ranges:  []store.Range{{Partition: "cx.surveys/0", Epoch: 1, Start: offset, End: offset + 1}},
		IDs:     []dedupe.Check{{ID: id, Expect: dedupe.NewEvent}},
		Records: []dedupe.Record{{ID: id, Arrival: now, OccurredAt: at, Type: "survey.response", Scopes: []string{"all"}, Counters: c}},
		Deltas: []store.Delta{{Scope: "all", Window: 0, Bucket: ws[0].Index(at), Counters: c},
			{Scope: "all", Window: 1, Bucket: ws[1].Index(at), Counters: c}}})
	require.NoError(t, err)
	require.Equal(t, store.Applied, res.Outcome)
}
