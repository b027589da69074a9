package logwatch

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestResumeAt(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		found                    bool
		resume, first, end, want int64
		reason                   string
	}{
		{"nothing applied yet: the log start", false, 0, 7, 20, 7, ""},
		{"within the log", true, 12, 7, 20, 12, ""},
		{"at the log end", true, 20, 7, 20, 20, ""},
		{"deleted by retention", true, 3, 7, 20, 0, "offsets 3 to 6 were deleted by retention"},
		{"beyond the log end", true, 25, 0, 20, 0, "the log ends at 20, below the 25 already applied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := ResumeAt(tc.found, tc.resume, tc.first, tc.end)
			if tc.reason == "" {
				require.Empty(t, reason)
				require.Equal(t, tc.want, got)
				return
			}
			require.Contains(t, reason, tc.reason)
		})
	}
}

// TestReaderReport: the two kafka-go reader reports that hide a gap, in
// the words kafka-go v0.4.51 uses, call for a halt; others do not.
func TestReaderReport(t *testing.T) {
	require.Contains(t, ReaderReport("the kafka reader is reading before the first offset for partition %d of %s, skipping from offset %d to %d (%d messages)",
		[]any{0, "cx.surveys", int64(1300), int64(3300), int64(2000)}), "offsets 1300 up to 3300 were deleted by retention")
	require.Contains(t, ReaderReport("the kafka reader is reading passed the last offset for partition %d of %s at offset %d",
		[]any{0, "cx.surveys", int64(100)}), "offset 100 is past the end of the log")
	require.Empty(t, ReaderReport("the kafka reader got an unknown error reading partition %d of %s at offset %d: %s",
		[]any{0, "cx.surveys", int64(100), "i/o timeout"}))
}
