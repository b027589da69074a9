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

// TestReturningCustomersAreNeverNew: a customer who comes back after their
// history was forgotten (past the largest window plus the inactivity
// horizon) is not new, and neither is one whose purchase says
// customer_since (a history import); first-time buyers are.
func TestReturningCustomersAreNeverNew(t *testing.T) {
	tenantsFile := writeTenants(t, "tenants:\n  acme: {churn_inactivity: 30d}\n")
	start := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clk := newClock(start)
	_, broker := testenv.Kafka(t, 2, allTopics...)
	rdb, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_TENANTS_FILE": tenantsFile}, clk)
	n := 0
	buy := func(customer string, at time.Time, since *time.Time) msg {
		n++
		return eventMsg(events.Event{ID: fmt.Sprintf("p-%d", n), Type: events.TypePurchaseCompleted, Tenant: "acme", OccurredAt: at,
			CustomerID: customer, Dims: map[string]string{"store": "s1"},
			Purchase: &events.Purchase{OrderID: fmt.Sprintf("o-%d", n), Amount: 20, CustomerSince: since}})
	}
	longAgo := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	produce(t, broker, []msg{
		buy("a", start.Add(-24*time.Hour), nil),
		buy("b", start.Add(-24*time.Hour), &longAgo), // bought first in 2024, as the import says
		buy("c", start.Add(-24*time.Hour), nil),
	})
	waitApplied(t, in.base)
	newIn30d := func() (float64, float64) {
		t.Helper()
		var got scores.Scores
		require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/acme/scores?scope=all", &got))
		return got.Windows["30d"]["customers_new"], got.Windows["30d"]["customers_purchasing"]
	}
	nw, buyers := newIn30d()
	require.Equal(t, 2.0, nw, "a and c are new, b is not")
	require.Equal(t, 3.0, buyers)

	// 150 days on: past the 90d window plus the 30d horizon, so a's and
	// b's histories are forgotten (only their earliest purchase stays).
	later := start.Add(150 * 24 * time.Hour)
	clk.set(later)
	require.NoError(t, in.agg.SweepOnce(t.Context()))
	for _, c := range []string{"a", "b"} {
		rec, err := rdb.HGet(t.Context(), "cxpulse:{acme}:cust", c).Result()
		require.NoError(t, err, "the earliest purchase of %s is kept", c)
		t.Logf("record of %s once forgotten: %d bytes: %s", c, len(rec), rec)
	}
	produce(t, broker, []msg{
		buy("a", later.Add(-time.Hour), nil),
		buy("b", later.Add(-time.Hour), nil),
		buy("d", later.Add(-time.Hour), nil),
	})
	waitApplied(t, in.base)
	nw, buyers = newIn30d()
	require.Equal(t, 1.0, nw, "only d is new: a and b came back")
	require.Equal(t, 3.0, buyers)
}
