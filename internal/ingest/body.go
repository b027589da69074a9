package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/valyala/fastjson"

	"github.com/cxpulse/cxpulse/pkg/events"
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
		return nil, fmt.Errorf("malformed JSON: %s", events.ParseErrorText(err))
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

// The CloudEvents content types ingest takes (docs/events.md).
const (
	cloudEventJSON  = "application/cloudevents+json"
	cloudEventBatch = "application/cloudevents-batch+json"
)

// cloudEvents reads a body of CloudEvents: structured mode (one, or a
// batch), or binary mode (ce-* headers, the data as the body). It returns
// each event's JSON, with the CloudEvents that carry no event as errors
// naming their attribute; ok is false for a body that is no CloudEvent.
func cloudEvents(header http.Header, body []byte) (items [][]byte, errs []EventError, ok bool, err error) {
	mt, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	switch {
	case header.Get("Ce-Specversion") != "":
		attrs := events.CloudEventHeaders("ce-", func(yield func(string, string) bool) {
			for name, vals := range header {
				if len(vals) > 0 && !yield(name, vals[0]) {
					return
				}
			}
		})
		item, err := events.FromBinaryCloudEvent(attrs, body)
		return [][]byte{item}, cloudEventErrors(0, err), true, nil
	case mt == cloudEventJSON:
		items = [][]byte{bytes.TrimSpace(body)}
	case mt == cloudEventBatch:
		if items, err = splitBody(body, "application/json"); err != nil {
			return nil, nil, true, err
		}
		if len(items) == 1 && bytes.TrimSpace(body)[0] != '[' {
			return nil, nil, true, errors.New("a CloudEvents batch is a JSON array")
		}
	default:
		return nil, nil, false, nil
	}
	for i, raw := range items {
		item, err := events.FromCloudEvent(raw)
		items[i] = item
		errs = append(errs, cloudEventErrors(i, err)...)
	}
	return items, errs, true, nil
}

// cloudEventErrors lists the attributes a mapping error names.
func cloudEventErrors(index int, err error) []EventError {
	if err == nil {
		return nil
	}
	var out []EventError
	var each []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		each = j.Unwrap()
	} else {
		each = []error{err}
	}
	for _, e := range each {
		var ce *events.CloudEventError
		if errors.As(e, &ce) {
			out = append(out, EventError{Index: index, Field: ce.Attribute, Reason: ce.Reason})
		} else {
			out = append(out, EventError{Index: index, Reason: e.Error()})
		}
	}
	return out
}

// asCloudEventFields names the fields of decoding errors as the
// CloudEvents attributes they come from (data.<field> for the others).
func asCloudEventFields(errs []EventError) []EventError {
	for i := range errs {
		if errs[i].Field == "" {
			continue
		}
		if attr := events.CloudEventAttribute(errs[i].Field); attr != "" {
			errs[i].Field = attr
		} else {
			errs[i].Field = "data." + errs[i].Field
		}
	}
	return errs
}
