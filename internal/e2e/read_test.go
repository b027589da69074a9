package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/api"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// TestLeaderboardAndSeries: three stores, NPS ranked by its lower bound;
// the bounds were worked out with a calculator (one pseudo-response of
// each kind: n+3 answers, (P+1)/(n+3) promoters, (D+1)/(n+3) detractors).
func TestLeaderboardAndSeries(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 30, 0, time.UTC)
	_, broker := testenv.Kafka(t, 2, allTopics...)
	_, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr}, newClock(now))
	var msgs []msg
	n := 0
	add := func(store string, score, count int) {
		for range count {
			n++
			msgs = append(msgs, eventMsg(events.Event{ID: fmt.Sprintf("l-%d", n), Type: events.TypeSurveyResponse, Tenant: "acme",
				OccurredAt: now.Add(-90 * time.Minute), Dims: map[string]string{"store": store},
				Survey: &events.Survey{Metric: events.MetricNPS, Score: score}}))
		}
	}
	add("s1", 10, 60) // n 100: 60 promoters, 30 passives, 10 detractors: NPS 50
	add("s1", 8, 30)
	add("s1", 3, 10)
	add("s2", 9, 4)  // n 4, all promoters: NPS 100
	add("s3", 9, 30) // n 50: 30 promoters, 10 passives, 10 detractors: NPS 40
	add("s3", 7, 10)
	add("s3", 0, 10)
	produce(t, broker, msgs)
	waitApplied(t, in.base)

	var lb api.Leaderboard
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/leaderboard?dim=store&metric=nps&window=24h", &lb))
	require.Len(t, lb.Entries, 3)
	for i, want := range []struct {
		scope        string
		value, bound float64
		n            int64
	}{{"store=s1", 50, 35.3973, 100}, {"store=s3", 40, 16.0292, 50}, {"store=s2", 100, 3.1799, 4}} {
		e := lb.Entries[i]
		require.Equal(t, want.scope, e.Scope)
		require.InDelta(t, want.value, e.Value, 1e-9)
		require.InDelta(t, want.bound, e.Bound, 1e-4)
		require.Equal(t, want.n, e.Responses)
	}
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/leaderboard?dim=store&metric=nps&window=24h&min_responses=10&limit=1", &lb))
	require.Len(t, lb.Entries, 1)
	require.Equal(t, "store=s1", lb.Entries[0].Scope)
	// Ascending by detractor share: the upper Wilson bound ranks.
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/leaderboard?dim=store&metric=detractor_share&order=asc&window=24h", &lb))
	// 10 of 100: upper bound 17.44 %; 10 of 50: 33.04 %; 0 of 4: 48.99 %.
	require.Equal(t, []string{"store=s1", "store=s3", "store=s2"}, []string{lb.Entries[0].Scope, lb.Entries[1].Scope, lb.Entries[2].Scope})
	require.InDelta(t, 17.44, lb.Entries[0].Bound, 0.01)
	require.InDelta(t, 48.99, lb.Entries[2].Bound, 0.01)
	require.Equal(t, http.StatusBadRequest, getJSON(t, in.base+"/v1/tenants/acme/leaderboard?metric=tickets_opened", nil))
	require.Equal(t, http.StatusBadRequest, getJSON(t, in.base+"/v1/tenants/acme/leaderboard?window=2h", nil))

	var s api.Series
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/series?scope=store=s1&metric=nps&window=24h", &s))
	require.Len(t, s.Points, 24) // the hours from 13:00 yesterday to 12:00 today
	require.Equal(t, int64(3600), s.BucketSeconds)
	require.Equal(t, time.Date(2026, 11, 21, 13, 0, 0, 0, time.UTC), s.Points[0].Start.UTC())
	for _, p := range s.Points {
		if p.Start.Equal(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)) {
			require.NotNil(t, p.Value)
			require.InDelta(t, 50, *p.Value, 1e-9)
		} else {
			require.Nil(t, p.Value, "no responses at %s", p.Start)
		}
	}
	require.Equal(t, http.StatusBadRequest, getJSON(t, in.base+"/v1/tenants/acme/series?metric=churn_rate", nil))
}
