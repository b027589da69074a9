package e2e

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/importer"
	"github.com/cxpulse/cxpulse/internal/kafkaconn"
	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/internal/timerule"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// importRow is one row of the test's CSV export and what the import
// should make of it: the UTC instant by hand (zero for a rejected row)
// and, for a rejected one, the field the rejects file names.
type importRow struct {
	id, when, store, score, comment, customer string
	at                                        time.Time
	rejectField                               string
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// importRows is a survey tool's export of NPS answers of tenant nyc
// (America/New_York), with local times without an offset.
var importRows = []importRow{
	{"R1", "2026-12-02 09:15:00", "s1", "10", "Great, fast service", "c1", utc("2026-12-02T14:15:00Z"), ""},
	{"R2", "2026-11-30 18:00:00", "s2", "3", "Slow\nvery slow, \"really\"", "c2", utc("2026-11-30T23:00:00Z"), ""},
	// 01:30 happened twice on 1 November (clocks back at 02:00 EDT): the
	// earlier, EDT, instant. Two identical rows are two answers.
	{"", "2026-11-01 01:30:00", "s1", "9", "خیلی خوب بود", "", utc("2026-11-01T05:30:00Z"), ""},
	{"", "2026-11-01 01:30:00", "s1", "9", "خیلی خوب بود", "", utc("2026-11-01T05:30:00Z"), ""},
	// 02:30 never happened on 8 March (clocks forward at 02:00 EST).
	{"R5", "2026-03-08 02:30:00", "s1", "8", "", "", time.Time{}, "occurred_at"},
	{"R6", "2026-03-08 03:30:00", "s2", "7", "服务很好", "c3", utc("2026-03-08T07:30:00Z"), ""},
	{"R7", "2026-12-03 10:00:00", "s2", "11", "", "", time.Time{}, "survey.score"},
	{"R8", "yesterday", "s1", "5", "", "", time.Time{}, "occurred_at"},
	{"R9", "2024-06-01 12:00:00", "s1", "5", "", "", time.Time{}, "occurred_at"}, // before the previous year
	{"R10", "2026-12-03 10:20:00", "s3", "0", "terrible", "c4", utc("2026-12-03T15:20:00Z"), ""},
	{"17850.0", "2026-10-15 12:00:00", "s3", "6", "", "c5", utc("2026-10-15T16:00:00Z"), ""},
	{"R12", "2026-12-03 10:00:00", "s1", "", "", "", time.Time{}, "survey.score"},
	{"R13", "2025-01-15 08:00:00", "s2", "10", "", "", utc("2025-01-15T13:00:00Z"), ""},
}

// writeExport writes rows as the export does: a BOM, a header, RFC 4180
// quoting, CRLF line ends.
func writeExport(t *testing.T, path string, rows []importRow) {
	t.Helper()
	var b bytes.Buffer
	b.Write([]byte{0xEF, 0xBB, 0xBF})
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	require.NoError(t, w.Write([]string{"Response ID", "Submitted", "Store", "Likelihood to recommend", "Comment", "Customer"}))
	for _, r := range rows {
		require.NoError(t, w.Write([]string{r.id, r.when, r.store, r.score, r.comment, r.customer}))
	}
	w.Flush()
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o600))
}

// TestImportHistoryExactly imports a CSV export (quoted commas, a newline
// inside a field, a BOM, Persian and Chinese comments, local times across
// both DST changes, bad rows) into a running aggregator: every accepted row
// counts exactly in the windows and calendar periods, the rejects file
// names each bad row's line and field, a second import sends nothing, and
// a third, of the file with ten rows added, sends exactly those ten.
func TestImportHistoryExactly(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	dir := t.TempDir()
	tenantsFile := writeTenants(t, "tenants:\n  nyc: {timezone: America/New_York}\n")
	now := time.Date(2026, 12, 3, 15, 30, 0, 0, time.UTC)
	_, broker := testenv.Kafka(t, 3, allTopics...)
	rdb, addr := testenv.Redis(t)
	in := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "redis://" + addr,
		"CXPULSE_TENANTS_FILE": tenantsFile}, newClock(now))

	export := filepath.Join(dir, "responses.csv")
	writeExport(t, export, importRows)
	importFile := func(path, rejects string) importer.Summary {
		t.Helper()
		return importNYC(t, broker, rdb, tenantsFile, now, path, rejects)
	}

	// The reference: the accepted rows as events, worked out by hand.
	final := map[string]*events.Event{}
	addRef := func(key string, r importRow) {
		n := 0
		fmt.Sscan(r.score, &n)
		final[key] = &events.Event{ID: key, Tenant: "nyc", Type: events.TypeSurveyResponse, OccurredAt: r.at,
			Dims: map[string]string{"store": r.store}, Survey: &events.Survey{Metric: events.MetricNPS, Score: n}}
	}
	for i, r := range importRows {
		if !r.at.IsZero() {
			addRef(fmt.Sprintf("row%d", i), r)
		}
	}
	check := func() {
		t.Helper()
		waitApplied(t, in.base)
		want := expected(final, now, func(ev *events.Event) []string { return []string{"all", "store=" + ev.Dims["store"]} })
		checkScores(t, in.base, "nyc", want)
		c := refCal{ny, false, time.Monday}
		for _, p := range []refPeriod{c.month(2026, 11), c.month(2026, 3), c.month(2026, 10), c.year(2025), c.day(utc("2026-11-01T12:00:00Z"))} {
			for _, scope := range []string{"all", "store=s1"} {
				var ans struct{ Stats map[string]float64 }
				require.Equal(t, http.StatusOK, getJSON(t, in.base+"/v1/tenants/nyc/periods?scope="+scope+"&period="+p.name, &ans), p.name)
				ref := refPeriodStats(final, scope, p.from, p.to)
				for _, stat := range []string{"nps_responses", "nps_promoters", "nps_detractors"} {
					require.Equal(t, ref[stat], ans.Stats[stat], "%s %s %s", scope, p.name, stat)
				}
			}
		}
	}

	first := importFile(export, filepath.Join(dir, "rejects1.csv"))
	require.Equal(t, importer.Summary{Read: 13, Sent: 8, Rejected: 5, IDsFixed: 1, IDsFixedExample: "17850.0", Seconds: first.Seconds}, first)
	check()
	// What landed, event by event: the instants by hand, the comments as
	// written, the integer id.
	var landed, wantLanded []string
	for _, rec := range testenv.Consume(t, broker, "cx.surveys", 8) {
		ev, _, err := events.NewDecoder(events.Strict).Decode(rec.Value)
		require.NoError(t, err)
		id := ev.ID
		if strings.HasPrefix(id, "imp-") {
			id = "(derived)"
		}
		landed = append(landed, fmt.Sprintf("%s %s %s %d %q %s", id, ev.OccurredAt.UTC().Format(time.RFC3339), ev.Dims["store"], ev.Survey.Score, ev.Survey.Comment, ev.CustomerID))
	}
	for _, r := range importRows {
		if r.at.IsZero() {
			continue
		}
		id := strings.TrimSuffix(r.id, ".0")
		if id == "" {
			id = "(derived)"
		}
		n := 0
		fmt.Sscan(r.score, &n)
		wantLanded = append(wantLanded, fmt.Sprintf("%s %s %s %d %q %s", id, r.at.Format(time.RFC3339), r.store, n, r.comment, r.customer))
	}
	require.ElementsMatch(t, wantLanded, landed)

	// The rejects file: a header, then line, field, reason and the row.
	b, err := os.ReadFile(filepath.Join(dir, "rejects1.csv"))
	require.NoError(t, err)
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"line", "field", "reason", "Response ID", "Submitted", "Store", "Likelihood to recommend", "Comment", "Customer"}, recs[0])
	// Lines by hand: the header is line 1, R2's comment spans lines 3-4.
	var got []string
	for _, rec := range recs[1:] {
		got = append(got, rec[0]+" "+rec[1]+" "+rec[3])
		for _, r := range importRows {
			if r.id == rec[3] {
				require.Equal(t, r.rejectField, rec[1], rec)
				require.Equal(t, []string{r.id, r.when, r.store, r.score, r.comment, r.customer}, rec[3:])
			}
		}
	}
	require.Equal(t, []string{"7 occurred_at R5", "9 survey.score R7", "10 occurred_at R8", "11 occurred_at R9", "14 survey.score R12"}, got)
	require.Contains(t, string(b), "does not exist in America/New_York")
	require.Contains(t, string(b), "the start of the previous year")

	// Again: the ledger sends nothing, whatever the aggregator's dedupe
	// horizon.
	second := importFile(export, filepath.Join(dir, "rejects2.csv"))
	require.Equal(t, importer.Summary{Read: 13, Sent: 0, Rejected: 5, Skipped: 8, IDsFixed: 1, IDsFixedExample: "17850.0", Seconds: second.Seconds}, second)
	require.Equal(t, int64(8), testenv.Count(t, broker, "cx.surveys"))
	check()

	// The file with ten more rows: exactly those ten go.
	more := append([]importRow(nil), importRows...)
	for i := range 10 {
		r := importRow{fmt.Sprintf("N%d", i), fmt.Sprintf("2026-12-01 0%d:10:00", i), "s1", fmt.Sprint(i + 1), "", "", utc(fmt.Sprintf("2026-12-01T%02d:10:00Z", i+5)), ""}
		more = append(more, r)
		addRef(r.id, r)
	}
	grown := filepath.Join(dir, "responses-grown.csv")
	writeExport(t, grown, more)
	third := importFile(grown, filepath.Join(dir, "rejects3.csv"))
	require.Equal(t, importer.Summary{Read: 23, Sent: 10, Rejected: 5, Skipped: 8, IDsFixed: 1, IDsFixedExample: "17850.0", Seconds: third.Seconds}, third)
	require.Equal(t, int64(18), testenv.Count(t, broker, "cx.surveys"))
	check()
	require.Equal(t, int64(18), rdb.HLen(t.Context(), "cxpulse:{nyc}:imported:v2").Val())
}

// importNYC imports a responses export into tenant nyc (times in New
// York, ids as integers), as cxpulse import does, and returns the summary.
func importNYC(t *testing.T, broker string, rdb *redis.Client, tenantsFile string, now time.Time, path, rejects string) importer.Summary {
	t.Helper()
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	reg, err := tenants.Load(tenantsFile)
	require.NoError(t, err)
	ws, err := window.Parse(window.DefaultSpec)
	require.NoError(t, err)
	kc := kafkaconn.Config{Brokers: []string{broker}}
	f, err := os.Create(rejects)
	require.NoError(t, err)
	defer f.Close()
	sink := importer.NewKafkaSink(kc.Writer(), "cx.")
	cols, err := importer.ParseMaps([]string{"id=Response ID", "occurred_at=Submitted", "dims.store=Store",
		"score=Likelihood to recommend", "comment=Comment", "customer_id=Customer"})
	require.NoError(t, err)
	sum, err := importer.Import(t.Context(), importer.Options{
		Mapping: importer.Mapping{Tenant: "nyc", Type: events.TypeSurveyResponse, Metric: events.MetricNPS, Columns: cols,
			TimeFormat: "%Y-%m-%d %H:%M:%S", Zone: ny, IDFormat: importer.IDInteger},
		Sink: sink, Ledger: importer.NewLedger(rdb), Tenants: reg, Rule: timerule.New(reg, ws[len(ws)-1]),
		Rejects: f, Now: func() time.Time { return now },
	}, []string{path})
	require.NoError(t, err)
	require.NoError(t, sink.Close())
	return sum
}
