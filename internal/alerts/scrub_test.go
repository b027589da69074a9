package alerts_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/alerts"
)

// TestScrubRemovesAnErasedCustomer: their comment and their words go, the
// rest of the annotations (another's comment, other terms, the counts)
// stays; the summary names the terms left.
func TestScrubRemovesAnErasedCustomer(t *testing.T) {
	ann := map[string]string{
		"comment_1": "the xylo checkout is broken", "comment_2": "refund never came", "n_detractors": "9",
		"top_terms": `[{"term":"xylo","z":4.5,"count":5},{"term":"refund","z":3.1,"count":4},{"term":"checkout","z":2.2,"count":3}]`,
		"summary":   "Detractor share at all of acme is 40.0% over 24h, baseline 10.0%; detractors mention xylo, refund, checkout",
	}
	changed, err := alerts.Scrub(ann, [][]string{alerts.Terms("The XYLO checkout is broken!")}, []string{"the", "xylo", "checkout", "is", "broken"})
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, map[string]string{
		"comment_2": "refund never came", "n_detractors": "9",
		"top_terms": `[{"term":"refund","z":3.1,"count":4}]`,
		"summary":   "Detractor share at all of acme is 40.0% over 24h, baseline 10.0%; detractors mention refund",
	}, ann)

	changed, err = alerts.Scrub(ann, [][]string{alerts.Terms("never said")}, []string{"refund"})
	require.NoError(t, err)
	require.True(t, changed)
	require.NotContains(t, ann, "top_terms")
	require.Equal(t, "Detractor share at all of acme is 40.0% over 24h, baseline 10.0%", ann["summary"])

	changed, err = alerts.Scrub(ann, [][]string{alerts.Terms("refund never came, sadly")}, []string{"other"})
	require.NoError(t, err)
	require.False(t, changed)
}
