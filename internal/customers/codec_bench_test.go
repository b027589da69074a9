package customers

import (
	"encoding/json"
	"fmt"
	"testing"
)

// BenchmarkDecodeRecord reads a record of 20 purchases in 4 scopes each,
// with a carried spell, as Decode reads it and, side by side, as
// encoding/json (by reflection) reads the same bytes.
func BenchmarkDecodeRecord(b *testing.B) {
	h := &History{AsOf: 1_795_000_000_000, Carry: map[string]Spell{"all": {Since: 1, Last: 2}}}
	for i := range 20 {
		h.Events = append(h.Events, Entry{ID: fmt.Sprintf("order-%06d", i), At: 1_790_000_000_000 + int64(i)*86_400_000,
			Scopes: []string{"all", fmt.Sprintf("store=s%02d", i%3), "region=eu", "channel=web"}, Code: "R-1"})
	}
	rec := h.Encode()
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode("c", rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c History
			if err := json.Unmarshal(rec, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
