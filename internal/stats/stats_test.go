package stats

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/pkg/events"
)

func TestWilsonByHand(t *testing.T) {
	// 5 of 20: p = 0.25, z = 1.96; center (0.25 + 0.09604)/1.19208,
	// half 1.96·√(0.009375 + 0.0024010)/1.19208.
	lo, hi := Wilson(5, 20)
	require.InDelta(t, 0.11186, lo, 1e-5) // hand-worked to 5 places
	require.InDelta(t, 0.46870, hi, 1e-5)
	lo, hi = Wilson(0, 0)
	require.Equal(t, [2]float64{0, 1}, [2]float64{lo, hi})
}

func TestNPSByHand(t *testing.T) {
	// 40 promoters, 35 passives, 25 detractors of 100: NPS 15; P 0.4, D
	// 0.25, (P + D) − (P − D)² = 0.65 − 0.0225 = 0.6275, √(0.006275) =
	// 0.0792149, × 196 = 15.5261.
	require.InDelta(t, 15.0, NPS(40, 25, 100), 1e-12)
	require.InDelta(t, 15.5261, NPSMoE95(40, 25, 100), 1e-4)
}

func TestWindowStatsByHand(t *testing.T) {
	var c Counters
	for _, ev := range []events.Event{
		{Type: events.TypeSurveyResponse, Survey: &events.Survey{Metric: events.MetricNPS, Score: 10}},
		{Type: events.TypeSurveyResponse, Survey: &events.Survey{Metric: events.MetricNPS, Score: 3}},
		{Type: events.TypeSurveyResponse, Survey: &events.Survey{Metric: events.MetricNPS, Score: 8}},
		{Type: events.TypeSurveyResponse, Survey: &events.Survey{Metric: events.MetricCSAT, Score: 4}},
		{Type: events.TypeSurveyResponse, Survey: &events.Survey{Metric: events.MetricCSAT, Score: 2}},
		{Type: events.TypePurchaseCompleted, Purchase: &events.Purchase{Amount: 30.25}},
		{Type: events.TypePurchaseCompleted, Purchase: &events.Purchase{Amount: 9.75}},
		{Type: events.TypePurchaseRefunded, Purchase: &events.Purchase{Amount: 5}},
	} {
		add := Contribution(&ev)
		c.Add(&add, 1)
	}
	got := map[string]Stat{}
	for _, s := range AppendWindow(nil, &c, 0, 0) {
		got[s.Name] = s
	}
	require.Len(t, got, len(Names()), "every stat once")
	require.Equal(t, 3.0, got["nps_responses"].Value)
	require.Equal(t, 1.0, got["nps_passives"].Value)
	require.InDelta(t, 0.0, got["nps"].Value, 1e-12) // (1 − 1)/3
	require.InDelta(t, 100.0/3, got["detractor_share"].Value, 1e-12)
	require.InDelta(t, 50.0, got["csat"].Value, 1e-12)
	require.InDelta(t, 3.0, got["csat_mean"].Value, 1e-12)
	require.Equal(t, 35.0, got["revenue"].Value) // 30.25 + 9.75 − 5
	require.InDelta(t, 20.0, got["atv"].Value, 1e-12)
	require.False(t, got["ces"].Defined, "no CES answers: the mean is absent")
	require.False(t, got["churn_rate"].Defined)
	require.True(t, got["tickets_opened"].Defined && got["tickets_opened"].Value == 0, "counts are always present")
}

func TestSeriesStats(t *testing.T) {
	require.True(t, HasSeries("nps"))
	require.True(t, HasSeries("purchases"))
	require.False(t, HasSeries("churn_rate"))
	require.False(t, HasSeries("customers_purchasing"))
	require.False(t, HasSeries("nope"))
}

// TestAmountsSumExactly: amounts that binary floating point cannot hold
// (19.99, 0.1, 0.2, 0.3) sum to the decimal answer, exactly.
func TestAmountsSumExactly(t *testing.T) {
	var c Counters
	for _, ev := range []events.Event{
		{Type: events.TypePurchaseCompleted, Purchase: &events.Purchase{Amount: 19.99}},
		{Type: events.TypePurchaseCompleted, Purchase: &events.Purchase{Amount: 19.99}},
		{Type: events.TypePurchaseCompleted, Purchase: &events.Purchase{Amount: 19.99}},
		{Type: events.TypePurchaseCompleted, Purchase: &events.Purchase{Amount: 0.1}},
		{Type: events.TypePurchaseCompleted, Purchase: &events.Purchase{Amount: 0.2}},
		{Type: events.TypePurchaseRefunded, Purchase: &events.Purchase{Amount: 0.3}},
		{Type: events.TypePurchaseRefunded, Purchase: &events.Purchase{Amount: 19.99}},
	} {
		add := Contribution(&ev)
		c.Add(&add, 1)
	}
	got := map[string]float64{}
	for _, s := range AppendWindow(nil, &c, 0, 0) {
		got[s.Name] = s.Value
	}
	require.Equal(t, 39.98, got["revenue"], "3 × 19.99 + 0.1 + 0.2 − 0.3 − 19.99")
	require.Equal(t, 12.054, got["atv"], "60.27 / 5")
}

// TestCounterLayoutIsPinned: stored buckets hold the raw counters by
// position, so layout 1's positions must not move. A counter added at the
// end passes; anything else fails here until LayoutVersion changes (and
// this table with it).
func TestCounterLayoutIsPinned(t *testing.T) {
	require.Equal(t, 1, LayoutVersion)
	layout1 := []Counter{NPSResponses, NPSPromoters, NPSDetractors, CSATResponses, CSATSatisfied, CSATSum, CSATSumSq,
		CESResponses, CESEasy, CESSum, CESSumSq, TicketsOpened, TicketsResolved, TicketsReopened, FirstResponseN, FirstResponseMs,
		FirstResponseSq, HandleN, HandleMs, HandleSq, Purchases, Refunds, GrossAmount, RefundedAmount, ReferralsSent,
		Purchasers, CustomersNew, ReferredNew, Activations, Losses}
	for pos, c := range layout1 {
		require.Equal(t, pos, int(c), "counter %d of layout 1 moved", pos)
	}
	require.GreaterOrEqual(t, int(NumCounters), len(layout1))
}
