package publish

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/outbox"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// TestSweepsVisitWhatIsDue: a sweep round takes only the tenants whose
// sweep is due. Fifty tenants with one answer each are all swept once at
// start; then no round takes any until a late answer of one of them
// leaves the 1h window (that round takes that tenant alone, and its
// window slides), and the next hour takes them all again.
func TestSweepsVisitWhatIsDue(t *testing.T) {
	ctx := t.Context()
	rdb, _ := testenv.Redis(t)
	ws, err := window.Parse("1h,24h")
	require.NoError(t, err)
	st := store.New(rdb, ws, 24*time.Hour)
	reg, err := tenants.Load("")
	require.NoError(t, err)
	start := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	now := start
	metrics := prometheus.NewRegistry()
	p := New(Config{Windows: ws, TopicPrefix: "cx.", GroupID: "g", EmitInterval: time.Second},
		Parts{Store: st, Outbox: outbox.New(rdb), Tenants: reg, Registry: metrics, Now: func() time.Time { return now }, Instance: "i1"}, zap.NewNop())
	var promoter stats.Counters
	promoter[stats.NPSResponses], promoter[stats.NPSPromoters] = 1, 1
	for i := range 50 {
		name := fmt.Sprintf("t%02d", i)
		require.NoError(t, st.AddTenant(ctx, name))
		applyAnswer(t, st, ws, name, now, 0, name+"-0", promoter)
	}
	taken := func() float64 {
		_, sum := histogram(t, metrics, "cxpulse_sweep_round_tenants")
		return sum
	}
	round := func(at time.Time) {
		t.Helper()
		now = at
		require.NoError(t, p.sweepDue(ctx))
	}
	require.NoError(t, p.markAllDue(ctx))
	round(start)
	require.EqualValues(t, 50, taken(), "at start every tenant is due")
	round(start.Add(time.Second))
	require.EqualValues(t, 50, taken(), "nothing is due a second later")

	// An answer at 09:40 (1h bucket [09:40, 09:42)) leaves the 1h window
	// at 10:40.
	applyAnswer(t, st, ws, "t07", start.Add(-40*time.Minute), 1, "t07-1", promoter)
	view := func() string {
		v, err := st.View(ctx, "t07", "all")
		require.NoError(t, err)
		return v["1h:nps_responses"]
	}
	require.Equal(t, "2", view())
	round(start.Add(10*time.Minute - time.Millisecond))
	require.EqualValues(t, 50, taken())
	round(start.Add(10 * time.Minute))
	require.EqualValues(t, 51, taken(), "t07 alone")
	require.Equal(t, "1", view(), "the late answer left the 1h window")

	round(time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC))
	require.EqualValues(t, 101, taken(), "the next hour: every tenant (theme hour buckets)")
}
