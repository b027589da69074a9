package importer_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/importer"
	"github.com/cxpulse/cxpulse/internal/kafkaconn"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/internal/timerule"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// benchRows is the size of the file each round imports.
const benchRows = 100_000

// BenchmarkImportVersusKcat imports a CSV of survey answers to Kafka
// (kfake over TCP, the ledger in a real Redis), and has kcat -P
// (librdkafka) produce the same events, keyed, from a file: rows/s of
// each and their ratio, in the same run.
func BenchmarkImportVersusKcat(b *testing.B) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		b.Skip("kcat is not installed (apt-get install kcat)")
	}
	_, broker := testenv.Kafka(b, 6, "cx.surveys", "cx.tickets", "cx.purchases")
	rdb, _ := testenv.Redis(b)
	dir := b.TempDir()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	csvPath, kcatPath := filepath.Join(dir, "answers.csv"), filepath.Join(dir, "answers.kcat")
	cf, err := os.Create(csvPath)
	require.NoError(b, err)
	kf, err := os.Create(kcatPath)
	require.NoError(b, err)
	cw, kw := bufio.NewWriter(cf), bufio.NewWriter(kf)
	fmt.Fprintln(cw, "id,at,store,score,comment")
	for i := range benchRows {
		at := now.Add(-time.Duration(i) * time.Second)
		ev := events.Event{ID: fmt.Sprintf("b-%d", i), Type: events.TypeSurveyResponse, Tenant: "acme", OccurredAt: at,
			Dims: map[string]string{"store": fmt.Sprintf("s%d", i%40)}, Survey: &events.Survey{Metric: events.MetricNPS, Score: i % 11, Comment: "quick, friendly"}}
		fmt.Fprintf(cw, "%s,%s,%s,%d,\"%s\"\n", ev.ID, at.Format(time.RFC3339), ev.Dims["store"], ev.Survey.Score, ev.Survey.Comment)
		v, err := json.Marshal(ev)
		require.NoError(b, err)
		fmt.Fprintf(kw, "%s\t%s\n", ev.Key(), v)
	}
	require.NoError(b, cw.Flush())
	require.NoError(b, kw.Flush())
	require.NoError(b, cf.Close())
	require.NoError(b, kf.Close())
	ws, err := window.Parse(window.DefaultSpec)
	require.NoError(b, err)
	cols, err := importer.ParseMaps([]string{"id=id", "occurred_at=at", "dims.store=store", "score=score", "comment=comment"})
	require.NoError(b, err)
	kc := kafkaconn.Config{Brokers: []string{broker}}

	var importSecs, kcatSecs float64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		require.NoError(b, rdb.FlushAll(context.Background()).Err()) // the ledger would skip every row
		sink := importer.NewKafkaSink(kc.Writer(), "cx.")
		b.StartTimer()
		began := time.Now()
		sum, err := importer.Import(context.Background(), importer.Options{
			Mapping: importer.Mapping{Tenant: "acme", Type: events.TypeSurveyResponse, Metric: events.MetricNPS, Columns: cols,
				TimeFormat: importer.TimeRFC3339, Zone: time.UTC, IDFormat: importer.IDInteger},
			Sink: sink, Ledger: importer.NewLedger(rdb), Rule: timerule.New(nil, ws[len(ws)-1]), Now: func() time.Time { return now },
		}, []string{csvPath})
		require.NoError(b, err)
		require.NoError(b, sink.Close())
		importSecs += time.Since(began).Seconds()
		require.Equal(b, int64(benchRows), sum.Sent)

		began = time.Now()
		out, err := exec.Command(kcat, "-P", "-b", broker, "-t", "cx.surveys", "-K", "\t", "-X", "acks=all", "-l", kcatPath).CombinedOutput()
		require.NoError(b, err, "%s", out)
		kcatSecs += time.Since(began).Seconds()
	}
	rows := float64(benchRows * b.N)
	b.ReportMetric(rows/importSecs, "import_rows/s")
	b.ReportMetric(rows/kcatSecs, "kcat_rows/s")
	b.ReportMetric(kcatSecs/importSecs, "import/kcat")
}
