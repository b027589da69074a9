// Package dedupe defines what cxpulse remembers of an applied event, for
// the dedupe horizon after its last arrival: enough to recognise a repeat
// and to retract its contribution when a higher revision replaces it, in
// the text form the apply script stores and returns. Deciding what is a
// duplicate or a revision is left to the pipeline; storing it to the store.
package dedupe

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cxpulse/cxpulse/internal/stats"
)

// Record is what is remembered of an applied event: enough to recognise a
// repeat and to retract its contribution when a revision replaces it.
type Record struct {
	ID         string
	Revision   int64
	Arrival    time.Time
	OccurredAt time.Time
	Type       string
	Scopes     []string
	Counters   stats.Counters
	CustomerID string
	// Terms are the theme terms of an NPS comment, so a revision can
	// retract them.
	Terms []string
}

// Detractor reports whether the event was an NPS detractor's answer: its
// comment's terms count for its scopes' detractors, not for the others.
func (r *Record) Detractor() bool { return r.Counters[stats.NPSDetractors] > 0 }

// NewEvent marks an id the slice expects to be new (not remembered).
const NewEvent = -1

// Check states what a slice assumed about a remembered id: NewEvent, or
// the revision it saw stored.
type Check struct {
	ID     string
	Expect int64
}

// appendText appends the non-zero counters as index:value pairs, comma
// separated (parseSparse reads them).
func appendText(b []byte, c *stats.Counters) []byte {
	first := true
	for i, v := range c {
		if v == 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, ':')
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return b
}

func parseSparse(s string) (stats.Counters, bool) {
	var c stats.Counters
	if s == "" {
		return c, true
	}
	for part := range strings.SplitSeq(s, ",") {
		i, v, ok := strings.Cut(part, ":")
		idx, err1 := strconv.Atoi(i)
		f, err2 := strconv.ParseFloat(v, 64)
		if !ok || err1 != nil || err2 != nil || idx < 0 || idx >= int(stats.NumCounters) {
			return c, false
		}
		c[idx] = f
	}
	return c, true
}

// AppendTo appends the record as the scripts store it (Decode reads it).
func (r *Record) AppendTo(b []byte) []byte {
	b = strconv.AppendInt(b, r.Revision, 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, r.Arrival.UnixMilli(), 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, r.OccurredAt.UnixMilli(), 10)
	b = append(b, '|')
	b = append(b, r.Type...)
	b = append(b, '|')
	b = append(appendJoined(b, r.Scopes, ';'), '|')
	b = append(appendText(b, &r.Counters), '|')
	b = append(appendJoined(b, r.Terms, ','), '|')
	return append(b, r.CustomerID...)
}

// appendJoined appends parts separated by sep.
func appendJoined(b []byte, parts []string, sep byte) []byte {
	for i, p := range parts {
		if i > 0 {
			b = append(b, sep)
		}
		b = append(b, p...)
	}
	return b
}

// Decode reads the stored record of event id.
func Decode(id, s string) (*Record, error) {
	parts := strings.SplitN(s, "|", 8)
	if len(parts) != 8 {
		return nil, fmt.Errorf("record of %q: %d fields", id, len(parts))
	}
	rev, err1 := strconv.ParseInt(parts[0], 10, 64)
	arr, err2 := strconv.ParseInt(parts[1], 10, 64)
	occ, err3 := strconv.ParseInt(parts[2], 10, 64)
	c, ok := parseSparse(parts[5])
	if err := errors.Join(err1, err2, err3); err != nil || !ok {
		return nil, fmt.Errorf("record of %q is corrupt: %q", id, s)
	}
	var scopes []string
	if parts[4] != "" {
		scopes = strings.Split(parts[4], ";")
	}
	var terms []string
	if parts[6] != "" {
		terms = strings.Split(parts[6], ",")
	}
	return &Record{ID: id, Revision: rev, Arrival: time.UnixMilli(arr), OccurredAt: time.UnixMilli(occ),
		Type: parts[3], Scopes: scopes, Counters: c, Terms: terms, CustomerID: parts[7]}, nil
}
