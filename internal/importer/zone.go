package importer

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// checkZone refuses, before anything is sent, an import whose zone is
// unknown (no --timezone, the tenant in no tenants file) when a time it
// would read has no offset: such a time cannot be placed without a zone,
// and a guess (UTC) would count the same rows again, as other events, once
// the zone is known. A strftime pattern without an offset is refused at
// once; CSV files in rfc3339 are read through for a time without one
// (stdin cannot be read twice: its rows without an offset are rejected one
// by one, naming --timezone). NDJSON events carry offsets by contract.
func checkZone(opts *Options, files []string) error {
	m := &opts.Mapping
	if m.Zone != nil {
		return nil
	}
	if m.TimeFormat != TimeRFC3339 && m.TimeFormat != TimeUnix && m.TimeFormat != TimeUnixMs && zonelessFormat(m.TimeFormat) {
		return fmt.Errorf("--time-format %q reads times without an offset, and the zone to read them in is unknown: give --timezone (or list the tenant, with its timezone, in the tenants file)", m.TimeFormat)
	}
	for _, path := range files {
		format := opts.Format
		if format == "" {
			format = FormatOf(path)
		}
		if path == "-" || format != FormatCSV {
			continue
		}
		if err := scanZoneless(path, m); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

// scanZoneless reads a CSV file's time columns and names the first time
// without an offset.
func scanZoneless(path string, m *Mapping) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := newCSV(f)
	if err != nil {
		return err
	}
	type timeCol struct {
		field string
		i     int
	}
	var cols []timeCol
	for _, field := range []string{"occurred_at", "customer_since"} {
		for i, h := range c.header {
			if name, ok := m.Columns[field]; ok && h == name {
				cols = append(cols, timeCol{field, i})
				break
			}
		}
	}
	for {
		rw, err := c.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading: %w", err)
		}
		for _, tc := range cols {
			if tc.i < len(rw.cols) && zoneless(rw.cols[tc.i], m.TimeFormat) {
				return fmt.Errorf("line %d: %s %q %w", rw.line, tc.field, rw.cols[tc.i], errNoZone)
			}
		}
	}
}
