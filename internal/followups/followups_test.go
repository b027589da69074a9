package followups

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/bizhours"
	"github.com/cxpulse/cxpulse/pkg/period"
)

func show(d Derived) []string {
	var out []string
	for _, c := range d.Counts {
		out = append(out, fmt.Sprintf("%s@%s %g", c.Figure, c.At.UTC().Format("Mon 15:04"), c.Value))
	}
	return out
}

// TestCaseByHand: a detractor's case from opening to close, late, open and
// overdue, worked out by hand (48 h calendar target).
func TestCaseByHand(t *testing.T) {
	r := Rule{Detractors: true, CloseWithin: 48 * time.Hour}
	mon := func(h int) time.Time { return time.Date(2026, 11, 23, h, 0, 0, 0, time.UTC) }
	a := &Answer{ID: "r1", At: mon(10), Metric: "nps", Score: 3, Customer: "c1"}
	evs := []Event{{ID: "f2", At: mon(24 + 9), Kind: Closed}, {ID: "f1", At: mon(12), Kind: Contacted}, {ID: "f3", At: mon(14), Kind: Contacted}}
	d := Derive(a, evs, mon(48), r)
	require.Equal(t, []string{"followups_opened@Mon 10:00 1", "followups_contacted@Mon 12:00 1", "followup_time_to_contact@Mon 12:00 7200",
		"followups_closed@Tue 09:00 1", "followup_time_to_close@Tue 09:00 82800", "followups_closed_within_target@Tue 09:00 1"}, show(d))
	require.False(t, d.Open)
	require.True(t, d.Deadline.IsZero())

	// Not closed: open, due Wednesday 10:00; overdue from then on.
	d = Derive(a, evs[1:], mon(24), r)
	require.True(t, d.Open)
	require.Equal(t, mon(58), d.Deadline)
	d = Derive(a, evs[1:], mon(59), r)
	require.Contains(t, show(d), "followups_overdue@Wed 10:00 1")
	require.True(t, d.Deadline.IsZero(), "overdue: nothing left to wait for")

	// Closed Thursday: overdue at the deadline, closed late.
	late := append([]Event{{ID: "f4", At: mon(82), Kind: Closed}}, evs[1:]...)
	d = Derive(a, late, mon(90), r)
	require.Equal(t, []string{"followups_opened@Mon 10:00 1", "followups_contacted@Mon 12:00 1", "followup_time_to_contact@Mon 12:00 7200",
		"followups_overdue@Wed 10:00 1", "followups_closed@Thu 10:00 1", "followup_time_to_close@Thu 10:00 259200"}, show(d))

	// A revision to a passive withdraws the case; no customer, none.
	passive := *a
	passive.Score = 7
	require.Empty(t, Derive(&passive, evs, mon(80), r).Counts)
	anon := *a
	anon.Customer = ""
	require.Empty(t, Derive(&anon, evs, mon(80), r).Counts)
	require.Empty(t, Derive(nil, evs, mon(80), r).Counts, "events before their answer")
}

// TestWhichAnswersOpen: NPS 0–6 for detractors, CSAT 1–2 for csat_low,
// CES 1–3 for ces_hard, each only when listed.
func TestWhichAnswersOpen(t *testing.T) {
	all := Rule{Detractors: true, CSATLow: true, CESHard: true}
	for _, tc := range []struct {
		metric string
		score  int
		all    bool
	}{{"nps", 6, true}, {"nps", 7, false}, {"nps", 0, true}, {"csat", 2, true}, {"csat", 3, false}, {"ces", 3, true}, {"ces", 4, false}} {
		a := Answer{Metric: tc.metric, Score: tc.score, Customer: "c"}
		require.Equal(t, tc.all, all.Opens(a), "%+v", tc)
		require.Equal(t, tc.all && tc.metric == "nps", Rule{Detractors: true}.Opens(a), "%+v", tc)
	}
}

// TestBusinessDeadline: a 2 h business-hours target from Friday 16:00 in
// Berlin (Mon–Fri 09:00–17:00) falls due Monday 10:00.
func TestBusinessDeadline(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	h, err := bizhours.Parse(period.System{Loc: loc, Calendar: period.Gregorian, WeekStart: time.Monday}, "business_hours",
		map[string]string{"mon": "09:00-17:00", "tue": "09:00-17:00", "wed": "09:00-17:00", "thu": "09:00-17:00", "fri": "09:00-17:00"}, nil, "holidays")
	require.NoError(t, err)
	r := Rule{Detractors: true, CloseWithin: 2 * time.Hour, Deadline: h.Add}
	a := &Answer{ID: "r1", At: time.Date(2026, 11, 27, 16, 0, 0, 0, loc), Metric: "nps", Score: 0, Customer: "c1"}
	d := Derive(a, nil, a.At.Add(time.Hour), r)
	require.True(t, d.Deadline.Equal(time.Date(2026, 11, 30, 10, 0, 0, 0, loc)), "%s", d.Deadline)
}
