package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxpulse/cxpulse/internal/pace"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// retries is how often a batch is tried again after a failure that may
// pass (a broker away, ingest rate limiting) before the import stops.
const retries = 8

// Sink is where imported events go.
type Sink interface {
	// Send writes evs; it answers, per event, nil or why the destination
	// refused it for good (a row to reject), or an error when the batch
	// could not be written at all.
	Send(ctx context.Context, evs []events.Event) ([]error, error)
	Close() error
}

// KafkaSink writes to the input topics directly, with the keys and topics
// ingest uses.
type KafkaSink struct {
	p *events.Producer
}

// NewKafkaSink returns a sink writing through w to topics under prefix.
func NewKafkaSink(w *kafka.Writer, prefix string) *KafkaSink {
	return &KafkaSink{p: events.NewProducer(w, prefix)}
}

// Send writes evs, retrying a Kafka failure; the consumers deduplicate
// what a retry writes twice.
func (k *KafkaSink) Send(ctx context.Context, evs []events.Event) ([]error, error) {
	refused := make([]error, len(evs))
	left, at := evs, make([]int, len(evs))
	for i := range at {
		at[i] = i
	}
	for n := 0; ; n++ {
		err := k.p.Send(ctx, left...)
		var se *events.SendError
		if err == nil {
			return refused, nil
		}
		if !errors.As(err, &se) {
			return nil, fmt.Errorf("writing to Kafka: %w", err)
		}
		var again []events.Event
		var againAt []int
		for i, e := range se.Errs {
			var verr *events.ValidationError
			switch {
			case e == nil:
			case errors.As(e, &verr):
				refused[at[i]] = e
			default:
				again, againAt = append(again, left[i]), append(againAt, at[i])
			}
		}
		if len(again) == 0 {
			return refused, nil
		}
		if n >= retries || !pace.Wait(ctx, n) {
			return nil, fmt.Errorf("writing %d events to Kafka: %w", len(again), err)
		}
		left, at = again, againAt
	}
}

// Close flushes and closes the writer.
func (k *KafkaSink) Close() error { return k.p.Close() }

// IngestSink posts to an ingest service (POST /v1/events?partial=true).
type IngestSink struct {
	url, key string
	client   *http.Client
}

// NewIngestSink returns a sink posting to the ingest service at base with
// API key key (scope write).
func NewIngestSink(base, key string) *IngestSink {
	return &IngestSink{url: strings.TrimRight(base, "/") + "/v1/events?partial=true", key: key, client: &http.Client{Timeout: time.Minute}}
}

// ingestAnswer is a 202 or 207 answer of ingest.
type ingestAnswer struct {
	Accepted int `json:"accepted"`
	Errors   []struct {
		Index  int    `json:"index"`
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"errors"`
}

// Send posts evs in one request, waiting out rate limits and outages;
// refused credentials end the import.
func (s *IngestSink) Send(ctx context.Context, evs []events.Event) ([]error, error) {
	body, err := json.Marshal(evs)
	if err != nil {
		return nil, fmt.Errorf("encoding events: %w", err)
	}
	for n := 0; ; n++ {
		status, b, wait, err := s.post(ctx, body)
		if err == nil {
			switch {
			case status == http.StatusAccepted || status == http.StatusMultiStatus:
				var a ingestAnswer
				if err := json.Unmarshal(b, &a); err != nil {
					return nil, fmt.Errorf("ingest answered %d with %q: %w", status, b, err)
				}
				refused := make([]error, len(evs))
				for _, e := range a.Errors {
					if e.Index >= 0 && e.Index < len(evs) {
						refused[e.Index] = errors.Join(refused[e.Index], &events.ValidationError{Problems: []events.Problem{{Field: e.Field, Reason: e.Reason}}})
					}
				}
				return refused, nil
			case status == http.StatusUnauthorized || status == http.StatusForbidden:
				return nil, fmt.Errorf("ingest refused the key (%d): %s", status, bytes.TrimSpace(b))
			case status == http.StatusTooManyRequests || status >= 500:
				err = fmt.Errorf("ingest answered %d: %s", status, bytes.TrimSpace(b))
			default:
				return nil, fmt.Errorf("ingest answered %d: %s", status, bytes.TrimSpace(b))
			}
		}
		if n >= retries {
			return nil, err
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		} else if !pace.Wait(ctx, n) {
			return nil, ctx.Err()
		}
	}
}

func (s *IngestSink) post(ctx context.Context, body []byte) (status int, answer []byte, retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, fmt.Errorf("ingest URL: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.key)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, 0, fmt.Errorf("posting to ingest: %w", err)
	}
	defer resp.Body.Close()
	answer, err = io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, nil, 0, fmt.Errorf("reading ingest's answer: %w", err)
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		retryAfter = time.Duration(secs) * time.Second
	}
	return resp.StatusCode, answer, retryAfter, nil
}

// Close does nothing: each request is complete when Send returns.
func (s *IngestSink) Close() error { return nil }
