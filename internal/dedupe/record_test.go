package dedupe

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/stats"
)

// TestRecordText: the stored form, written out by hand, and back.
func TestRecordText(t *testing.T) {
	var c stats.Counters
	c[stats.NPSResponses], c[stats.NPSDetractors] = 1, 1
	r := Record{ID: "r-1", Revision: 2, Arrival: time.UnixMilli(1795343400000), OccurredAt: time.UnixMilli(1795343000000),
		Type: "survey.response", Scopes: []string{"all", "store=s1"}, Counters: c, CustomerID: "c-9", Terms: []string{"refund", "late"}}
	got := string(r.AppendTo(nil))
	require.Equal(t, "2|1795343400000|1795343000000|survey.response|all;store=s1|0:1,2:1|refund,late|c-9", got)
	back, err := Decode("r-1", got)
	require.NoError(t, err)
	require.True(t, r.OccurredAt.Equal(back.OccurredAt) && r.Arrival.Equal(back.Arrival))
	back.OccurredAt, back.Arrival = r.OccurredAt, r.Arrival // equal instants, compared above
	require.Equal(t, r, *back, "every field back")
	_, err = Decode("r-2", "2|x|3|t||||")
	require.ErrorContains(t, err, `record of "r-2" is corrupt`)
}
