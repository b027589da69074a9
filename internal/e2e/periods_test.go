package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/api"
	"github.com/cxpulse/cxpulse/internal/deadletter"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/internal/testseed"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// --- The reference of calendar periods: Go's time and the IANA database
// for zones and DST, and for the Persian calendar only the published
// dates of Nowruz and the month lengths (31 days six times, then 30). ---

// refNowruz is 1 Farvardin of Solar Hijri years, as published.
var refNowruz = map[int]string{1403: "2024-03-20", 1404: "2025-03-21", 1405: "2026-03-21", 1406: "2027-03-21", 1407: "2028-03-20"}

// refCal is a tenant's calendar as the reference sees it.
type refCal struct {
	loc       *time.Location
	persian   bool
	weekStart time.Weekday
}

// date is a local date: y, m, d in the tenant's calendar.
type date struct{ y, m, d int }

// midnight is the first instant of the Gregorian date (y, m, d) in loc.
func (c refCal) midnight(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, c.loc)
}

// start is the first instant of a date of the tenant's calendar.
func (c refCal) start(dt date) time.Time {
	if !c.persian {
		return c.midnight(dt.y, time.Month(dt.m), dt.d)
	}
	nowruz, err := time.Parse(time.DateOnly, refNowruz[dt.y])
	if err != nil {
		panic(fmt.Sprintf("no Nowruz for %d", dt.y))
	}
	off := (dt.m-1)*31 + dt.d - 1
	if dt.m > 7 {
		off = 6*31 + (dt.m-7)*30 + dt.d - 1
	}
	g := nowruz.AddDate(0, 0, off)
	return c.midnight(g.Year(), g.Month(), g.Day())
}

// dateOf is the local date of t in the tenant's calendar.
func (c refCal) dateOf(t time.Time) date {
	y, m, d := t.In(c.loc).Date()
	if !c.persian {
		return date{y, int(m), d}
	}
	g := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	for py := 1407; py >= 1403; py-- {
		nowruz, _ := time.Parse(time.DateOnly, refNowruz[py])
		if g.Before(nowruz) {
			continue
		}
		k := int(g.Sub(nowruz).Hours() / 24)
		if k < 186 {
			return date{py, k/31 + 1, k%31 + 1}
		}
		k -= 186
		return date{py, k/30 + 7, k%30 + 1}
	}
	panic("date outside the table")
}

// nextMonth is the first day of the month after (y, m).
func nextMonth(y, m int) date {
	if m == 12 {
		return date{y + 1, 1, 1}
	}
	return date{y, m + 1, 1}
}

// refPeriod is a period as the reference names and bounds it.
type refPeriod struct {
	name     string
	from, to time.Time
}

func (c refCal) month(y, m int) refPeriod {
	return refPeriod{fmt.Sprintf("month:%04d-%02d", y, m), c.start(date{y, m, 1}), c.start(nextMonth(y, m))}
}

func (c refCal) quarter(y, q int) refPeriod {
	first, last := c.month(y, (q-1)*3+1), c.month(y, q*3)
	return refPeriod{fmt.Sprintf("quarter:%04d-Q%d", y, q), first.from, last.to}
}

func (c refCal) year(y int) refPeriod {
	return refPeriod{fmt.Sprintf("year:%04d", y), c.start(date{y, 1, 1}), c.start(date{y + 1, 1, 1})}
}

func (c refCal) day(t time.Time) refPeriod {
	dt := c.dateOf(t)
	y, m, d := t.In(c.loc).Date()
	return refPeriod{fmt.Sprintf("day:%04d-%02d-%02d", dt.y, dt.m, dt.d), c.midnight(y, m, d), c.midnight(y, m, d+1)}
}

func (c refCal) week(t time.Time) refPeriod {
	y, m, d := t.In(c.loc).Date()
	back := (int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Weekday()) - int(c.weekStart) + 7) % 7
	first := c.midnight(y, m, d-back)
	dt := c.dateOf(first)
	return refPeriod{fmt.Sprintf("week:%04d-%02d-%02d", dt.y, dt.m, dt.d), first, c.midnight(y, m, d-back+7)}
}

// refPeriodStats sums the final events that fall in [from, to) per scope.
func refPeriodStats(final map[string]*events.Event, scope string, from, to time.Time) map[string]float64 {
	r := &refCounts{}
	var purchases, refunds, gross, refunded float64
	for _, ev := range final {
		if ev.OccurredAt.Before(from) || !ev.OccurredAt.Before(to) || (scope != "all" && "store="+ev.Dims["store"] != scope) {
			continue
		}
		r.add(ev)
		switch ev.Type {
		case events.TypePurchaseCompleted:
			purchases++
			gross += ev.Purchase.Amount
		case events.TypePurchaseRefunded:
			refunds++
			refunded += ev.Purchase.Amount
		}
	}
	out := r.stats()
	delete(out, "nps_moe95") // kept, but compared through nps
	out["purchases"], out["refunds"], out["revenue"] = purchases, refunds, gross-refunded
	if purchases > 0 {
		out["atv"] = gross / purchases
	}
	return out
}

// periodTenant is one tenant of the test and its calendar.
type periodTenant struct {
	name string
	cal  refCal
	yaml string
}

// TestCalendarPeriodsExact sends three tenants' events, clustered at local
// midnights, month, quarter and year starts and DST changes (New York and
// Berlin on the Gregorian calendar, Tehran on the Persian one), with
// repeats and revisions that move events across month boundaries, and
// events older than the retention; then compares every closed month,
// quarter and year kept, days and weeks around the edges, the to-date
// periods and their comparisons, and the view's to-date fields with the
// reference, at several instants: across a local midnight and a year end.
func TestCalendarPeriodsExact(t *testing.T) {
	seed := testseed.New(t)
	rng := rand.New(rand.NewPCG(seed, 14))
	ny, _ := time.LoadLocation("America/New_York")
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tehran, _ := time.LoadLocation("Asia/Tehran")
	tenants := []periodTenant{
		{"nyc", refCal{ny, false, time.Monday}, "{timezone: America/New_York}"},
		{"ber", refCal{berlin, false, time.Sunday}, "{timezone: Europe/Berlin, week_start: sunday}"},
		{"teh", refCal{tehran, true, time.Saturday}, "{timezone: Asia/Tehran, calendar: persian}"},
	}
	file := "tenants:\n"
	for _, tn := range tenants {
		file += "  " + tn.name + ": " + tn.yaml + "\n"
	}
	tenantsFile := writeTenants(t, file)
	now := time.Date(2026, 12, 3, 15, 30, 0, 0, time.UTC)
	clk := newClock(now)
	_, broker := testenv.Kafka(t, 4, allTopics...)
	_, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_TENANTS_FILE": tenantsFile}, clk)

	var msgs []msg
	final := map[string]map[string]*events.Event{}
	tooOld := 0
	seq := 0
	for _, tn := range tenants {
		c := tn.cal
		final[tn.name] = map[string]*events.Event{}
		retained := c.year(c.dateOf(now).y - 1).from
		// The edges events cluster at: every month start from a month
		// before the retention to now, and the DST changes.
		var edges []time.Time
		for dt := c.dateOf(retained.AddDate(0, -1, 0)); ; {
			dt = nextMonth(dt.y, dt.m)
			at := c.start(dt)
			if at.After(now) {
				break
			}
			edges = append(edges, at)
		}
		for _, d := range []string{"2025-03-09", "2025-11-02", "2026-03-08", "2026-11-01", "2025-03-30", "2025-10-26", "2026-03-29", "2026-10-25"} {
			g, _ := time.Parse(time.DateOnly, d)
			edges = append(edges, c.midnight(g.Year(), g.Month(), g.Day()).Add(time.Duration(rng.IntN(4))*time.Hour))
		}
		edges = append(edges, c.day(now).from) // today's midnight
		when := func() time.Time {
			var at time.Time
			if rng.IntN(3) > 0 {
				at = edges[rng.IntN(len(edges))].Add(time.Duration(rng.Int64N(int64(6*time.Hour))) - 3*time.Hour)
			} else {
				span := now.Sub(retained) + 20*24*time.Hour
				at = now.Add(-time.Duration(rng.Int64N(int64(span))))
			}
			if at.After(now.Add(4 * time.Minute)) {
				at = now.Add(-time.Minute)
			}
			return at.Truncate(time.Millisecond)
		}
		for range 1500 {
			seq++
			ev := events.Event{ID: fmt.Sprintf("%s-%d", tn.name, seq), Tenant: tn.name, OccurredAt: when(),
				Dims: map[string]string{"store": fmt.Sprintf("s%d", 1+rng.IntN(3))}}
			switch k := rng.IntN(10); {
			case k < 4:
				ev.Type, ev.Survey = events.TypeSurveyResponse, &events.Survey{Metric: events.MetricNPS, Score: rng.IntN(11)}
			case k < 5:
				ev.Type, ev.Survey = events.TypeSurveyResponse, &events.Survey{Metric: events.MetricCSAT, Score: 1 + rng.IntN(5)}
			case k < 6:
				ev.Type, ev.Survey = events.TypeSurveyResponse, &events.Survey{Metric: events.MetricCES, Score: 1 + rng.IntN(7)}
			case k < 7:
				fr := float64(rng.IntN(7200))
				ev.Type, ev.Ticket = events.TypeTicketResolved, &events.Ticket{TicketID: ev.ID, FirstResponseSeconds: &fr}
			case k < 9:
				ev.Type, ev.CustomerID = events.TypePurchaseCompleted, fmt.Sprintf("c%d", rng.IntN(300))
				ev.Purchase = &events.Purchase{OrderID: ev.ID, Amount: float64(rng.IntN(50000)) / 100}
			default:
				ev.Type, ev.CustomerID = events.TypePurchaseRefunded, fmt.Sprintf("c%d", rng.IntN(300))
				ev.Purchase = &events.Purchase{OrderID: ev.ID, Amount: float64(rng.IntN(5000)) / 100}
			}
			msgs = append(msgs, eventMsg(ev))
			if ev.OccurredAt.Before(retained) {
				tooOld++
				continue
			}
			final[tn.name][ev.ID] = &ev
			if rng.IntN(20) == 0 {
				msgs = append(msgs, eventMsg(ev)) // a repeat
			}
		}
		// Revisions: survey answers moved across the nearest month start
		// (to the other side of it) or to another store.
		n := 0
		for _, ev := range final[tn.name] {
			if ev.Type != events.TypeSurveyResponse || n >= 80 {
				continue
			}
			rev := *ev
			rev.Revision = 1
			if n%2 == 0 {
				edge := c.month(c.dateOf(ev.OccurredAt).y, c.dateOf(ev.OccurredAt).m).from
				rev.OccurredAt = edge.Add(edge.Sub(ev.OccurredAt) + time.Second*time.Duration(1+rng.IntN(60)))
				if rev.OccurredAt.Before(retained) || rev.OccurredAt.After(now) {
					continue
				}
			} else {
				rev.Dims = map[string]string{"store": "s9"}
			}
			n++
			final[tn.name][ev.ID] = &rev
			msgs = append(msgs, eventMsg(rev))
		}
	}
	rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	// Revisions must come after what they revise: send every revision last.
	slices.SortStableFunc(msgs, func(a, b msg) int { return int(a.ev.Revision - b.ev.Revision) })
	sources := produce(t, broker, msgs)
	waitApplied(t, in.base)
	reasons := waitDeadLetters(t, broker, tooOld)
	for i, m := range msgs {
		if reason, ok := reasons[sources[i]]; ok {
			require.Equal(t, deadletter.ReasonTooLate, reason, "dead letter of %s at %s", m.ev.ID, m.ev.OccurredAt)
		}
	}
	require.NoError(t, in.agg.SweepOnce(t.Context())) // the first roll of the to-date periods

	// ask answers one /periods query.
	ask := func(tenant, scope, period, compare string) (api.PeriodAnswer, int) {
		q := url.Values{"scope": {scope}, "period": {period}}
		if compare != "" {
			q.Set("compare", compare)
		}
		var ans api.PeriodAnswer
		code := getJSON(t, in.base+"/v1/tenants/"+tenant+"/periods?"+q.Encode(), &ans)
		return ans, code
	}
	same := func(what string, want, got map[string]float64) {
		t.Helper()
		for stat, v := range want {
			g, ok := got[stat]
			require.True(t, ok, "%s: %s missing", what, stat)
			if refInexact[stat] {
				require.InDelta(t, v, g, 1e-9*math.Max(1, math.Abs(v)), "%s: %s", what, stat)
			} else {
				require.Equal(t, v, g, "%s: %s", what, stat)
			}
		}
		for _, stat := range []string{"nps", "csat", "csat_mean", "ces", "atv", "ticket_first_response_avg_s"} {
			_, w := want[stat]
			_, g := got[stat]
			require.Equal(t, w, g, "%s: %s present in one only", what, stat)
		}
	}
	checkAt := func(at time.Time) {
		t.Helper()
		for _, tn := range tenants {
			c, fin := tn.cal, final[tn.name]
			today := c.dateOf(at)
			retained := c.year(today.y - 1)
			var closed []refPeriod
			for dt := (date{today.y - 1, 1, 1}); ; dt = nextMonth(dt.y, dt.m) {
				p := c.month(dt.y, dt.m)
				if p.to.After(at) {
					break
				}
				closed = append(closed, p)
			}
			for q := 1; q <= 4; q++ {
				if p := c.quarter(today.y-1, q); !p.to.After(at) {
					closed = append(closed, p)
				}
			}
			closed = append(closed, retained)
			for _, e := range []time.Time{retained.from, retained.from.Add(36 * time.Hour), at.Add(-24 * time.Hour), at.Add(-40 * 24 * time.Hour)} {
				closed = append(closed, c.day(e))
				if w := c.week(e); !w.from.Before(retained.from) && !w.to.After(at) {
					closed = append(closed, w)
				}
			}
			for _, scope := range []string{"all", "store=s2"} {
				for _, p := range closed {
					ans, code := ask(tn.name, scope, p.name, "")
					require.Equal(t, http.StatusOK, code, "%s %s", tn.name, p.name)
					require.Equal(t, p.from.Format(time.RFC3339), ans.From, "%s %s", tn.name, p.name)
					require.Equal(t, p.to.Format(time.RFC3339), ans.To, "%s %s", tn.name, p.name)
					require.False(t, ans.ToDate)
					same(tn.name+" "+scope+" "+p.name, refPeriodStats(fin, scope, p.from, p.to), ans.Stats)
				}
			}
			// The to-date periods, in the API and in the view.
			var view scores.Scores
			require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/"+tn.name+"/scores?scope=all", &view))
			for alias, p := range map[string]refPeriod{"today": c.day(at), "wtd": c.week(at), "mtd": c.month(today.y, today.m),
				"qtd": c.quarter(today.y, (today.m-1)/3+1), "ytd": c.year(today.y)} {
				want := refPeriodStats(fin, "all", p.from, p.to)
				ans, code := ask(tn.name, "all", alias, "")
				require.Equal(t, http.StatusOK, code)
				require.Equal(t, p.name, ans.Period, "%s %s", tn.name, alias)
				require.True(t, ans.ToDate)
				require.Equal(t, at.In(c.loc).Format(time.RFC3339), ans.To)
				same(tn.name+" "+alias, want, ans.Stats)
				same(tn.name+" view "+alias, want, view.Periods[alias])
			}
			// A month under way against the same part of the month before
			// and of the same month a year earlier, to the local hour.
			mtd := c.month(today.y, today.m)
			hour := at.In(c.loc).Hour()
			prevStart := c.month(c.dateOf(mtd.from.Add(-time.Hour)).y, c.dateOf(mtd.from.Add(-time.Hour)).m)
			for how, from := range map[string]refPeriod{"previous": prevStart, "year_ago": c.month(today.y-1, today.m)} {
				py, pm, pd := from.from.In(c.loc).Date()
				day := c.midnight(py, pm, pd+today.d-1)
				to := time.Date(day.Year(), day.Month(), day.Day(), hour, 0, 0, 0, c.loc)
				if how == "year_ago" {
					to = day // hours are kept for two months: a year back it is to the day
				}
				if !day.Before(from.to) {
					to = from.to
				}
				ans, code := ask(tn.name, "all", "mtd", how)
				require.Equal(t, http.StatusOK, code)
				require.NotNil(t, ans.Compare)
				if how == "previous" && at.Equal(now) {
					b, _ := json.Marshal(ans)
					t.Logf("%s mtd compared with the previous month: %s", tn.name, b)
				}
				require.Equal(t, from.name, ans.Compare.Period, "%s mtd %s", tn.name, how)
				require.Equal(t, to.Format(time.RFC3339), ans.Compare.To, "%s mtd %s", tn.name, how)
				want := refPeriodStats(fin, "all", from.from, to)
				same(tn.name+" mtd "+how, want, ans.Compare.Stats)
				if v, ok := want["nps"]; ok && ans.Stats["nps_responses"] > 0 {
					require.InDelta(t, ans.Stats["nps"]-v, ans.Compare.Delta["nps"], 1e-9)
					require.Contains(t, ans.Compare.Significant, "nps")
				}
			}
			// Before the retention: not kept.
			_, code := ask(tn.name, "all", c.year(today.y-2).name, "")
			require.Equal(t, http.StatusNotFound, code)
		}
	}
	checkAt(now)

	// Across New York's midnight: its today starts again at 05:00 UTC.
	clk.set(time.Date(2026, 12, 4, 5, 0, 30, 0, time.UTC))
	require.NoError(t, in.agg.SweepOnce(t.Context()))
	var view scores.Scores
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/nyc/scores?scope=all", &view))
	require.Zero(t, view.Periods["today"]["nps_responses"], "a new local day")
	checkAt(clk.now())

	// Across the year end of the Gregorian tenants: year:2025 leaves what
	// is kept, 2026 is closed.
	clk.set(time.Date(2027, 1, 1, 5, 0, 30, 0, time.UTC))
	require.NoError(t, in.agg.SweepOnce(t.Context()))
	require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/nyc/scores?scope=all", &view))
	require.Zero(t, view.Periods["ytd"]["nps_responses"], "a new year")
	checkAt(clk.now())
}
