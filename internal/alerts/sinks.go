package alerts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Sink delivers notifications somewhere teams already look.
type Sink interface {
	Name() string
	Send(ctx context.Context, ns []Notification) error
}

// HTTPError is a receiver's refusal.
type HTTPError struct {
	URL    string
	Status int
	Body   string
	// RetryAfter is the wait the receiver asked for (Retry-After), if any.
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s answered %d: %s", e.URL, e.Status, e.Body)
}

// retryable reports whether a failed send may succeed later: network
// errors, 408, 429 and 5xx.
func retryable(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status == http.StatusRequestTimeout || he.Status == http.StatusTooManyRequests || he.Status >= 500
	}
	return true
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(h); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}

func postJSON(ctx context.Context, client *http.Client, url string, body any, header http.Header) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return post(ctx, client, url, b, header)
}

// PostSigned posts a JSON body with an event id (EventIDHeader, unless "")
// and, with a secret, its signature (SignatureHeader), as the webhook sink
// does.
func PostSigned(ctx context.Context, client *http.Client, url string, b []byte, id, secret string) error {
	h := http.Header{}
	if id != "" {
		h.Set(EventIDHeader, id)
	}
	if secret != "" {
		h.Set(SignatureHeader, Sign(secret, b))
	}
	return post(ctx, client, url, b, h)
}

func post(ctx context.Context, client *http.Client, url string, b []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode >= 300 {
		return &HTTPError{URL: url, Status: resp.StatusCode, Body: strings.TrimSpace(string(msg)),
			RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	return nil
}

// Alertmanager posts to an Alertmanager's POST /api/v2/alerts.
type Alertmanager struct {
	URL    string // base URL, e.g. http://alertmanager:9093
	Client *http.Client
}

// Name implements Sink.
func (s *Alertmanager) Name() string { return "alertmanager" }

// Send implements Sink.
func (s *Alertmanager) Send(ctx context.Context, ns []Notification) error {
	type postable struct {
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       time.Time         `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
	}
	body := make([]postable, len(ns))
	for i, n := range ns {
		body[i] = postable{n.Labels, n.Annotations, n.StartsAt, n.EndsAt, n.GeneratorURL}
	}
	return postJSON(ctx, s.Client, strings.TrimSuffix(s.URL, "/")+"/api/v2/alerts", body, nil)
}

// Webhook posts in the shape of Alertmanager's webhook (version 4), one
// message per tenant, grouped by alertname and tenant. Every message
// carries an id (EventIDHeader), the same on every retry of it, and, with
// a Secret, an HMAC-SHA256 signature of its body (SignatureHeader).
type Webhook struct {
	URL         string
	ExternalURL string
	Secret      string
	Client      *http.Client
}

// The headers of a webhook message.
const (
	// EventIDHeader identifies a message: a receiver that sees one twice
	// (a retry whose answer was lost) can drop the second.
	EventIDHeader = "X-Cxpulse-Event-Id"
	// SignatureHeader is "sha256=" and the hex HMAC-SHA256 of the body
	// with the sink's secret.
	SignatureHeader = "X-Cxpulse-Signature"
)

// Sign returns the SignatureHeader value of body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Name implements Sink.
func (s *Webhook) Name() string { return "webhook" }

// WebhookMessage is Alertmanager's webhook payload, version 4.
type WebhookMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Notification    `json:"alerts"`
}

// Send implements Sink.
func (s *Webhook) Send(ctx context.Context, ns []Notification) error {
	byTenant := map[string][]Notification{}
	for _, n := range ns {
		byTenant[n.Labels["tenant"]] = append(byTenant[n.Labels["tenant"]], n)
	}
	tenants := make([]string, 0, len(byTenant))
	for t := range byTenant {
		tenants = append(tenants, t)
	}
	sort.Strings(tenants)
	for _, t := range tenants {
		group := byTenant[t]
		msg := WebhookMessage{Version: "4", Receiver: "cxpulse", Status: Resolved, ExternalURL: s.ExternalURL,
			GroupLabels:  map[string]string{"alertname": AlertName, "tenant": t},
			GroupKey:     fmt.Sprintf("{}:{alertname=%q, tenant=%q}", AlertName, t),
			CommonLabels: common(group, func(n Notification) map[string]string { return n.Labels }),
			CommonAnnotations: common(group, func(n Notification) map[string]string {
				return n.Annotations
			}),
			Alerts: group}
		for _, n := range group {
			if n.Status == Firing {
				msg.Status = Firing
			}
		}
		b, err := json.Marshal(msg)
		if err != nil {
			return err
		}
		id := sha256.Sum256(b) // the same notifications give the same message
		if err := PostSigned(ctx, s.Client, s.URL, b, hex.EncodeToString(id[:16]), s.Secret); err != nil {
			return err
		}
	}
	return nil
}

// common returns the pairs every notification shares.
func common(ns []Notification, of func(Notification) map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range of(ns[0]) {
		out[k] = v
	}
	for _, n := range ns[1:] {
		m := of(n)
		for k, v := range out {
			if m[k] != v {
				delete(out, k)
			}
		}
	}
	return out
}

// PagerDuty sends PagerDuty Events API v2 events: trigger while firing,
// resolve once resolved, with the fingerprint as the stable dedup_key.
type PagerDuty struct {
	URL        string // https://events.pagerduty.com/v2/enqueue
	RoutingKey string
	Client     *http.Client
}

// Name implements Sink.
func (s *PagerDuty) Name() string { return "pagerduty" }

// Send implements Sink.
func (s *PagerDuty) Send(ctx context.Context, ns []Notification) error {
	for _, n := range ns {
		ev := map[string]any{"routing_key": s.RoutingKey, "dedup_key": n.Fingerprint, "event_action": "trigger"}
		if n.Status == Resolved {
			ev["event_action"] = "resolve"
		} else {
			ev["payload"] = map[string]any{
				"summary": n.Annotations["summary"], "source": "cxpulse", "severity": n.Labels["severity"],
				"component": n.Labels["scope"], "group": n.Labels["tenant"], "class": AlertName,
				"timestamp": n.StartsAt.Format(time.RFC3339), "custom_details": n.Annotations,
			}
			if n.GeneratorURL != "" {
				ev["links"] = []map[string]string{{"href": n.GeneratorURL, "text": "cxpulse scores"}}
			}
		}
		if err := postJSON(ctx, s.Client, s.URL, ev, nil); err != nil {
			return err
		}
	}
	return nil
}

// Retry is how a batch of notifications is retried at one sink: network
// errors, 408, 429 and 5xx are retried, with a backoff from Backoff
// doubling up to MaxBackoff, or the receiver's Retry-After when longer (up
// to MaxRetryAfter), Attempts times in all.
type Retry struct {
	Backoff, MaxBackoff time.Duration
	Attempts            int
	// Timeout bounds one send.
	Timeout time.Duration
}

// MaxRetryAfter caps the wait a receiver's Retry-After can ask for.
const MaxRetryAfter = 5 * time.Minute

// DefaultRetry is the retry of every sink.
var DefaultRetry = Retry{Backoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second, Attempts: 10, Timeout: 10 * time.Second}

// Deliver sends ns to s, retrying while the failure may pass, and tells
// onResult (when set) of every try. It returns nil once s took them, the
// last error once it gave up (a refusal, or out of attempts), or ctx's
// error when ctx ended first.
func (r Retry) Deliver(ctx context.Context, log *zap.Logger, s Sink, ns []Notification, onResult func(error)) error {
	wait := r.Backoff
	for attempt := 1; ; attempt++ {
		sctx, cancel := context.WithTimeout(ctx, r.Timeout)
		err := s.Send(sctx, ns)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if onResult != nil {
			onResult(err)
		}
		if err == nil {
			return nil
		}
		if !retryable(err) || attempt >= r.Attempts {
			return err
		}
		pause := wait
		if he := (*HTTPError)(nil); errors.As(err, &he) && he.RetryAfter > pause {
			pause = min(he.RetryAfter, MaxRetryAfter)
		}
		log.Warn("alert sink failed; will retry", zap.String("sink", s.Name()), zap.Duration("in", pause), zap.Error(err))
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, r.MaxBackoff)
	}
}
