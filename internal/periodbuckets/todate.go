package periodbuckets

import (
	"time"

	"github.com/cxpulse/cxpulse/internal/mpack"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// ToDate is how the periods under way (period.Aliases) of one scope are
// summed: the year hashes read (one, or two when the week spans a year
// boundary) and, per alias, the fields of each.
type ToDate struct {
	Years []int
	// Fields[a] lists, for alias a, its buckets as (slot, field) pairs:
	// slot indexes Years.
	Fields [][]SlotField
	// Until is when the local day ends: the sums are for the day before.
	Until time.Time
}

// SlotField is one bucket of a to-date sum.
type SlotField struct {
	Slot  int
	Field string
}

// ToDateOf returns how the periods under way are summed at now: today,
// the week, month, quarter and year, each the sum of all its buckets (the
// week by its days, the others by their months), so that an event up to
// window.FutureTolerance ahead counts in the periods it falls in, as in
// the windows.
func ToDateOf(sys period.System, now time.Time) ToDate {
	today := sys.Day(now)
	td := ToDate{Until: sys.Start(today + 1)}
	slot := func(year int) int {
		for i, y := range td.Years {
			if y == year {
				return i
			}
		}
		td.Years = append(td.Years, year)
		return len(td.Years) - 1
	}
	for k := range period.Aliases {
		p := sys.Containing(period.Kind(k), today)
		var fs []SlotField
		switch period.Kind(k) {
		case period.Day, period.Week:
			for d := p.First; d < p.End; d++ {
				fs = append(fs, SlotField{slot(sys.Year(d)), dayField(d)})
			}
		default:
			for m := sys.Month(p.First); m < sys.Month(p.End); m++ {
				fs = append(fs, SlotField{slot(sys.Year(p.First)), monthField(m)})
			}
		}
		td.Fields = append(td.Fields, fs)
	}
	return td
}

// Blob writes the to-date sums as the scripts read them (parsetodate in
// scripts.lua): one MessagePack array of the number of aliases, then per
// alias its name, the number of fields and (slot from 1, field) for each.
func (td *ToDate) Blob() []byte {
	n := 1
	for _, fs := range td.Fields {
		n += 2 + 2*len(fs)
	}
	b := mpack.AppendInt(mpack.AppendArray(nil, n), int64(len(td.Fields)))
	for a, fs := range td.Fields {
		b = mpack.AppendInt(mpack.AppendString(b, period.Aliases[a]), int64(len(fs)))
		for _, f := range fs {
			b = mpack.AppendString(mpack.AppendInt(b, int64(f.Slot+1)), f.Field)
		}
	}
	return b
}

// Keys returns the year hashes of scope the to-date sums read, by slot.
func (td *ToDate) Keys(tenant, scope string) []string {
	out := make([]string, len(td.Years))
	for i, y := range td.Years {
		out[i] = YearKey(tenant, scope, y)
	}
	return out
}
