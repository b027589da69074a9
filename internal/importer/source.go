package importer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// Input formats of --format.
const (
	FormatCSV    = "csv"
	FormatNDJSON = "ndjson"
)

// FormatOf returns the format named by a file's extension, "" when none.
func FormatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return FormatCSV
	case ".ndjson", ".jsonl":
		return FormatNDJSON
	}
	return ""
}

// row is one row of an input file.
type row struct {
	line int      // the file line the row starts on
	cols []string // a CSV row
	raw  []byte   // an NDJSON line
	err  error    // a row that cannot be read (a CSV quoting error)
}

// reader yields the rows of one file.
type reader interface {
	next() (row, error) // io.EOF at the end
}

// counter counts the bytes read through it, for progress.
type counter struct {
	r io.Reader
	n *atomic.Int64
}

func (c counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// skipBOM drops a UTF-8 byte order mark at the start of r.
func skipBOM(r *bufio.Reader) error {
	head, err := r.Peek(3)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if bytes.Equal(head, bom) {
		_, err = r.Discard(3)
	}
	return err
}

type csvReader struct {
	r      *csv.Reader
	header []string
}

// newCSV reads RFC 4180 CSV (quotes, commas and newlines in fields; a BOM
// or none) and its header row.
func newCSV(in io.Reader) (*csvReader, error) {
	br := bufio.NewReaderSize(in, 1<<16)
	if err := skipBOM(br); err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the file is empty: a header row is needed")
	}
	if err != nil {
		return nil, fmt.Errorf("reading the header row: %w", err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	return &csvReader{r: r, header: header}, nil
}

func (c *csvReader) next() (row, error) {
	cols, err := c.r.Read()
	if errors.Is(err, io.EOF) {
		return row{}, io.EOF
	}
	var perr *csv.ParseError
	if errors.As(err, &perr) {
		return row{line: perr.StartLine, err: perr.Err}, nil
	}
	if err != nil {
		return row{}, err
	}
	line, _ := c.r.FieldPos(0)
	return row{line: line, cols: cols}, nil
}

type ndjsonReader struct {
	r    *bufio.Reader
	line int
}

func newNDJSON(in io.Reader) (*ndjsonReader, error) {
	br := bufio.NewReaderSize(in, 1<<16)
	if err := skipBOM(br); err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	return &ndjsonReader{r: br}, nil
}

func (n *ndjsonReader) next() (row, error) {
	for {
		b, err := n.r.ReadBytes('\n')
		if len(b) == 0 && err != nil {
			return row{}, err
		}
		n.line++
		if t := bytes.TrimSpace(b); len(t) > 0 {
			return row{line: n.line, raw: t}, nil
		}
		if err != nil {
			return row{}, err
		}
	}
}
