package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"mime"

	"github.com/valyala/fastjson"
)

var errTooManyEvents = fmt.Errorf("more than %d events in one request", MaxEvents)

// splitBody cuts a request body into one JSON document per event: a single
// object, a JSON array of objects, or NDJSON (one object per line) when the
// content type says so.
func splitBody(body []byte, contentType string) ([][]byte, error) {
	if isNDJSON(contentType) {
		var items [][]byte
		for line := range bytes.SplitSeq(body, []byte{'\n'}) {
			if line = bytes.TrimSpace(line); len(line) > 0 {
				if len(items) == MaxEvents {
					return nil, errTooManyEvents
				}
				items = append(items, line)
			}
		}
		if len(items) == 0 {
			return nil, errors.New("the body holds no events")
		}
		return items, nil
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errors.New("the body holds no events")
	}
	if trimmed[0] != '[' {
		return [][]byte{trimmed}, nil
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(trimmed)
	if err != nil {
		return nil, fmt.Errorf("malformed JSON: %v", err)
	}
	arr, _ := v.Array()
	switch {
	case len(arr) == 0:
		return nil, errors.New("the body holds no events")
	case len(arr) > MaxEvents:
		return nil, errTooManyEvents
	}
	items := make([][]byte, len(arr))
	for i, item := range arr {
		items[i] = item.MarshalTo(nil)
	}
	return items, nil
}

func isNDJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/x-ndjson" || mt == "application/jsonl")
}
