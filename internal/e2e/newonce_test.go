package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// TestNewExactlyOnce: a full history import makes each customer new
// exactly once, at their first purchase ever seen, whatever order the
// purchases arrive in: a purchase older than the customer-state horizon
// (the 90d window plus a 30d inactivity horizon) still says when the
// customer bought first. A customer_since makes the customer new then, in
// the purchase's scopes, and a tie with the first real order counts once.
// The figures are worked out by hand below.
func TestNewExactlyOnce(t *testing.T) {
	tenantsFile := writeTenants(t, "tenants:\n  acme: {churn_inactivity: 30d}\n")
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	_, broker := testenv.Kafka(t, 2, allTopics...)
	_, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_TENANTS_FILE": tenantsFile}, newClock(now))
	n := 0
	buy := func(customer string, at time.Time, since *time.Time) msg {
		n++
		return eventMsg(events.Event{ID: fmt.Sprintf("p-%02d", n), Type: events.TypePurchaseCompleted, Tenant: "acme", OccurredAt: at,
			CustomerID: customer, Dims: map[string]string{"store": "s1"},
			Purchase: &events.Purchase{OrderID: fmt.Sprintf("o-%d", n), Amount: 20, CustomerSince: since}})
	}
	day := 24 * time.Hour
	march := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC) // 257 days back: past the horizon
	nov25 := time.Date(2025, 11, 15, 9, 0, 0, 0, time.UTC)
	august := now.Add(-100 * day) // 2026-08-14: within the horizon, outside 90d
	tie := now.Add(-5 * day)
	sinceEarlier := now.Add(-20 * day)
	// The recent purchases first, the history after them: a recent
	// purchase counted new is taken back when an earlier one arrives.
	produce(t, broker, []msg{
		buy("old1", now.Add(-10*day), nil),
		buy("mid", now.Add(-5*day), nil),
		buy("fresh", now.Add(-3*day), nil),
		buy("tie", tie, &tie),
		buy("since", now.Add(-2*day), &sinceEarlier),
	})
	waitApplied(t, in.base)
	produce(t, broker, []msg{
		buy("old1", march, nil),
		buy("old2", nov25, nil),
		buy("mid", august, nil),
	})
	waitApplied(t, in.base)

	var got scores.Scores
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/scores?scope=all", &got))
	// 30d: fresh, tie (once) and since (new 20 days ago) are new; old1 and
	// mid bought first long before.
	require.Equal(t, 3.0, got.Windows["30d"]["customers_new"])
	require.Equal(t, 5.0, got.Windows["30d"]["customers_purchasing"], "old1, mid, fresh, tie, since")
	require.Equal(t, 3.0, got.Windows["90d"]["customers_new"], "mid's first purchase is 100 days back")
	for _, want := range []struct {
		period string
		new    float64
	}{{"month:2026-03", 1}, {"month:2025-11", 1}, {"month:2026-08", 1}, {"month:2026-11", 3}, {"month:2026-10", 0}} {
		for _, scope := range []string{"all", "store=s1"} {
			var ans struct{ Stats map[string]float64 }
			require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/periods?scope="+scope+"&period="+want.period, &ans), want.period)
			require.Equal(t, want.new, ans.Stats["customers_new"], "%s %s", scope, want.period)
		}
	}
}
