package events_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/pkg/events"
)

// FuzzDecode feeds arbitrary bytes to both decoders: they must never panic,
// an event the strict decoder accepts must pass Validate and survive an
// encode/decode round trip, and the tolerant decoder must accept whatever
// the strict one accepts.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"good", "bad"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			require.NoError(f, err)
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		strict := events.NewDecoder(events.Strict)
		ev, _, err := strict.Decode(data)
		_, _, terr := events.NewDecoder(events.Tolerant).Decode(data)
		if err != nil {
			return
		}
		require.NoError(t, terr, "tolerant rejected what strict accepted")
		require.NoError(t, ev.Validate())
		b, err := json.Marshal(ev)
		require.NoError(t, err)
		again, _, err := strict.Decode(b)
		require.NoError(t, err, "re-encoded event %s", b)
		require.True(t, ev.OccurredAt.Equal(again.OccurredAt))
	})
}

func BenchmarkDecodeTolerant(b *testing.B) {
	data, err := os.ReadFile("testdata/good/survey_nps.json")
	require.NoError(b, err)
	d := events.NewDecoder(events.Tolerant)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := d.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
