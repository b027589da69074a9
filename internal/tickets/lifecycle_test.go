package tickets

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/bizhours"
	"github.com/cxpulse/cxpulse/internal/testseed"
	"github.com/cxpulse/cxpulse/pkg/period"
)

func berlinSettings(t *testing.T) (Settings, *time.Location) {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	day := "09:00-17:00"
	h, err := bizhours.Parse(period.System{Loc: loc, Calendar: period.Gregorian, WeekStart: time.Monday}, "business_hours",
		map[string]string{"mon": day, "tue": day, "wed": day, "thu": day, "fri": day}, []string{"2026-12-25"}, "holidays")
	require.NoError(t, err)
	targets := map[string]Targets{
		"urgent": {FirstReply: time.Hour, Resolution: 8 * time.Hour, Deadline: h.Add},
		"normal": {FirstReply: 8 * time.Hour, Resolution: 48 * time.Hour, Deadline: h.Add},
	}
	return Settings{Hours: h, Targets: func(p string) Targets {
		if p == "" {
			p = "normal"
		}
		return targets[p]
	}}, loc
}

// figures sums the counts of a derivation by figure, with the instant of
// each, as "figure@15:04 value".
func figures(d Derived, loc *time.Location) []string {
	var out []string
	for _, c := range d.Counts {
		out = append(out, fmt.Sprintf("%s@%s %g", c.Figure, c.At.In(loc).Format("Mon 15:04"), c.Value))
	}
	return out
}

// TestLifecycleByHand: a ticket with a private note, an end-user reply,
// pending and on-hold spells, a solve, a reopen and a second solve, worked
// out by hand in Berlin business hours (Mon–Fri 09:00–17:00).
func TestLifecycleByHand(t *testing.T) {
	set, loc := berlinSettings(t)
	mon := func(h, m int) time.Time { return time.Date(2026, 11, 23, h, m, 0, 0, loc) }
	tue := func(h, m int) time.Time { return time.Date(2026, 11, 24, h, m, 0, 0, loc) }
	evs := []Event{
		{ID: "a", At: mon(9, 0), Kind: Opened},
		{ID: "b", At: mon(9, 10), Kind: Replied, Agent: true},  // a private note
		{ID: "c", At: mon(9, 20), Kind: Replied, Public: true}, // the requester
		{ID: "d", At: mon(10, 0), Kind: Replied, Agent: true, Public: true},
		{ID: "e", At: mon(10, 0), Kind: StatusChanged, Status: Pending},
		{ID: "f", At: mon(13, 0), Kind: StatusChanged, Status: Open},
		{ID: "g", At: mon(14, 0), Kind: StatusChanged, Status: OnHold},
		{ID: "h", At: mon(15, 0), Kind: StatusChanged, Status: Open},
		{ID: "i", At: mon(16, 0), Kind: StatusChanged, Status: Solved},
	}
	// Solved Monday 16:00: full resolution 7 h; requester wait = new 1 h +
	// open 1 h + on hold 1 h + open 1 h; agent work the same without on
	// hold; one public agent reply: one-touch. Both SLA targets met.
	d := Derive(evs, tue(9, 0), set)
	require.Equal(t, Solved, d.Status)
	require.ElementsMatch(t, []string{
		"first_reply@Mon 10:00 3600", "first_reply_business@Mon 10:00 3600", "sla_first_reply_met@Mon 10:00 1",
		"solved@Mon 16:00 1", "one_touch@Mon 16:00 1", "full_resolution@Mon 16:00 25200", "full_resolution_business@Mon 16:00 25200",
		"requester_wait@Mon 16:00 14400", "requester_wait_business@Mon 16:00 14400", "agent_work@Mon 16:00 10800", "agent_work_business@Mon 16:00 10800",
		"sla_resolution_met@Mon 16:00 1",
	}, figures(d, loc))
	require.Empty(t, d.Deadlines)

	// Reopened Tuesday 10:00: the solve's figures are taken back, the
	// first reply and the SLA outcomes (met at the first solve) stay.
	evs = append(evs, Event{ID: "j", At: tue(10, 0), Kind: StatusChanged, Status: Open})
	d = Derive(evs, tue(10, 30), set)
	require.Equal(t, Open, d.Status)
	require.ElementsMatch(t, []string{
		"first_reply@Mon 10:00 3600", "first_reply_business@Mon 10:00 3600", "sla_first_reply_met@Mon 10:00 1", "sla_resolution_met@Mon 16:00 1",
	}, figures(d, loc))

	// A second public reply and a second solve Tuesday 11:00: 26 h
	// calendar (10 h business: Monday 8 h, Tuesday 2 h), requester wait
	// 4 h + open 1 h on Tuesday, no longer one-touch.
	evs = append(evs, Event{ID: "k", At: tue(10, 30), Kind: Replied, Agent: true, Public: true},
		Event{ID: "l", At: tue(11, 0), Kind: StatusChanged, Status: Solved},
		Event{ID: "m", At: tue(12, 0), Kind: StatusChanged, Status: Closed})
	d = Derive(evs, tue(13, 0), set)
	require.Equal(t, Closed, d.Status)
	require.ElementsMatch(t, []string{
		"first_reply@Mon 10:00 3600", "first_reply_business@Mon 10:00 3600", "sla_first_reply_met@Mon 10:00 1", "sla_resolution_met@Mon 16:00 1",
		"solved@Tue 11:00 1", "full_resolution@Tue 11:00 93600", "full_resolution_business@Tue 11:00 36000",
		"requester_wait@Tue 11:00 18000", "requester_wait_business@Tue 11:00 18000", "agent_work@Tue 11:00 14400", "agent_work_business@Tue 11:00 14400",
	}, figures(d, loc), "closing a solved ticket is no new solve")
}

// TestSLABreachAtTheDeadline: an urgent ticket opened Friday 16:00 has one
// business hour to its first reply: due Friday 17:00, the end of the
// day's hours. Before then the deadline is pending; from then on it is
// breached, counted at 17:00, whatever comes later.
func TestSLABreachAtTheDeadline(t *testing.T) {
	set, loc := berlinSettings(t)
	opened := time.Date(2026, 11, 27, 16, 0, 0, 0, loc)
	friday17 := time.Date(2026, 11, 27, 17, 0, 0, 0, loc)
	monday10 := time.Date(2026, 11, 30, 10, 0, 0, 0, loc)
	evs := []Event{{ID: "a", At: opened, Kind: Opened, Priority: "urgent"}}
	d := Derive(evs, opened.Add(30*time.Minute), set)
	require.Empty(t, d.Counts)
	require.Len(t, d.Deadlines, 2)
	require.True(t, d.Deadlines[0].Equal(friday17), "first reply due %s", d.Deadlines[0])
	// Resolution: 8 business hours: Friday 1 h, Monday 09:00-16:00.
	require.True(t, d.Deadlines[1].Equal(time.Date(2026, 11, 30, 16, 0, 0, 0, loc)))

	evs = append(evs, Event{ID: "b", At: monday10, Kind: Replied, Agent: true, Public: true})
	d = Derive(evs, monday10.Add(time.Hour), set)
	require.Contains(t, figures(d, loc), "sla_first_reply_breached@Fri 17:00 1")
	require.NotContains(t, figures(d, loc), "sla_first_reply_met@Mon 10:00 1")
	require.Contains(t, figures(d, loc), "first_reply_business@Mon 10:00 7200", "Friday 16-17 and Monday 09-10")
	require.Contains(t, figures(d, loc), "first_reply@Mon 10:00 237600", "66 calendar hours")
	require.Len(t, d.Deadlines, 1, "resolution still pending")
}

// TestAnyOrder: the derivation depends on the set of events only.
func TestAnyOrder(t *testing.T) {
	set, loc := berlinSettings(t)
	rng := rand.New(rand.NewPCG(testseed.New(t), 5))
	for range 200 {
		evs := randomTicket(rng, loc)
		now := evs[len(evs)-1].At.Add(time.Duration(rng.IntN(72)) * time.Hour)
		want := Derive(evs, now, set)
		rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
		require.Equal(t, want, Derive(evs, now, set))
	}
}

// TestWaitAgainstMinuteByMinute: requester wait and agent work of random
// lifecycles match a minute-by-minute count of the status in force, up to
// the latest change into solved.
func TestWaitAgainstMinuteByMinute(t *testing.T) {
	set, loc := berlinSettings(t)
	rng := rand.New(rand.NewPCG(testseed.New(t), 6))
	for range 200 {
		evs := randomTicket(rng, loc)
		opened := evs[0].At
		d := Derive(evs, evs[len(evs)-1].At, set)
		// The reference: the status at a minute is the latest change at
		// or before it (new before any); the latest solve is the last
		// change from an unsolved status into solved or closed.
		statusAt := func(m time.Time) Status {
			s := New
			for _, e := range evs {
				if e.Kind == StatusChanged && !e.At.After(m) {
					s = e.Status
				}
			}
			return s
		}
		var lastSolve time.Time
		prev := New
		for _, e := range evs {
			if e.Kind == StatusChanged {
				if (e.Status == Solved || e.Status == Closed) && prev != Solved && prev != Closed {
					lastSolve = e.At
				}
				prev = e.Status
			}
		}
		if prev != Solved && prev != Closed {
			continue // not solved: nothing to compare
		}
		var wait, work float64
		for m := opened; m.Before(lastSolve); m = m.Add(time.Minute) {
			switch statusAt(m) {
			case New, Open:
				wait, work = wait+60, work+60
			case OnHold:
				wait += 60
			}
		}
		got := map[Figure]float64{}
		for _, c := range d.Counts {
			got[c.Figure] = c.Value
		}
		require.Equal(t, wait, got[RequesterWait])
		require.Equal(t, work, got[AgentWork])
	}
}

// randomTicket is an opening and up to a dozen replies and status changes
// on distinct minutes after it, in time order.
func randomTicket(rng *rand.Rand, loc *time.Location) []Event {
	at := time.Date(2026, 11, 2, 0, 0, 0, 0, loc).Add(time.Duration(rng.IntN(30*24*60)) * time.Minute)
	evs := []Event{{ID: "e00", At: at, Kind: Opened, Priority: []string{"", "urgent", "normal"}[rng.IntN(3)]}}
	statuses := []Status{Open, Pending, OnHold, Solved, Closed}
	for i := range rng.IntN(12) {
		at = at.Add(time.Duration(1+rng.IntN(600)) * time.Minute)
		e := Event{ID: fmt.Sprintf("e%02d", i+1), At: at}
		if rng.IntN(3) == 0 {
			e.Kind, e.Agent, e.Public = Replied, rng.IntN(2) == 0, rng.IntN(3) > 0
		} else {
			e.Kind, e.Status = StatusChanged, statuses[rng.IntN(len(statuses))]
		}
		evs = append(evs, e)
	}
	return evs
}
