package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/auth"
	"github.com/cxpulse/cxpulse/internal/config"
	"github.com/cxpulse/cxpulse/internal/ingest"
	"github.com/cxpulse/cxpulse/internal/kafkaconn"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
)

const (
	acmeWriter   = "acme-write-4b1f"
	acmeReader   = "acme-read-77aa"
	acmeEUWriter = "acme-eu-write-09c2"
	globexWriter = "globex-write-e3d0"
)

var topics = []string{"cx.surveys", "cx.tickets", "cx.purchases"}

type env struct {
	url     string
	kafka   string
	cluster *kfake.Cluster
	server  *ingest.Server
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// start runs ingest over real HTTP against a kfake broker, with keys for
// acme (write+read and read-only), acme-eu_2 and globex, and a tenants file
// that gives acme the reporting currency EUR.
func start(t *testing.T, tweak func(*ingest.Config)) *env {
	t.Helper()
	cluster, addr := testenv.Kafka(t, 3, topics...)
	keys := fmt.Sprintf(`keys:
  - {tenant: acme, sha256: %s, scopes: [write, read]}
  - {tenant: acme, sha256: %s, scopes: [read]}
  - {tenant: acme-eu_2, sha256: %s, scopes: [write]}
  - {tenant: globex, sha256: %s, scopes: [write]}
`, auth.Digest(acmeWriter), auth.Digest(acmeReader), auth.Digest(acmeEUWriter), auth.Digest(globexWriter))
	cfg := ingest.Config{
		Kafka: kafkaconn.Config{Brokers: []string{addr}},
		Common: config.Common{
			TopicPrefix: "cx.",
			APIKeysFile: writeFile(t, "keys.yaml", keys),
			TenantsFile: writeFile(t, "tenants.yaml", "tenants:\n  acme: {currency: EUR}\n  acme-eu_2: {}\n  globex: {currency: USD}\n"),
			Log:         "json",
		},
		HTTPAddr:        "127.0.0.1:0",
		RateBurst:       ingest.MaxEvents,
		WriteTimeout:    3 * time.Second,
		ShutdownTimeout: time.Second,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	require.NoError(t, cfg.Validate())
	s, err := ingest.New(cfg, zap.NewNop())
	require.NoError(t, err)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { srv.Close(); _ = s.Close() })
	return &env{url: srv.URL, kafka: addr, cluster: cluster, server: s}
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) post(t *testing.T, key, contentType string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+"/v1/events", bytes.NewReader(body))
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func (a answer) eventErrors(t *testing.T) []ingest.EventError {
	t.Helper()
	var body ingest.EventErrors
	require.NoError(t, json.Unmarshal(a.body, &body), "body %s", a.body)
	return body.Errors
}

func goodFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../pkg/events/testdata/good/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

// TestEveryTypeLandsOnItsTopic posts each good payload and reads back what
// landed on each topic: key and value, for every event type.
func TestEveryTypeLandsOnItsTopic(t *testing.T) {
	e := start(t, nil)
	// Topic and key per payload, worked out by hand from docs/events.md.
	want := map[string]struct{ topic, key string }{
		"r-1001": {"cx.surveys", "acme/c-1001"},
		"r-1002": {"cx.surveys", "acme/r-1002"},
		"r-1003": {"cx.surveys", "acme/c-77"},
		"r-1004": {"cx.surveys", "acme-eu_2/r-1004"},
		"t-1":    {"cx.tickets", "acme/c-1001"},
		"t-2":    {"cx.tickets", "acme/t-2"},
		"t-3":    {"cx.tickets", "acme/t-3"},
		"p-1":    {"cx.purchases", "acme/c-1001"},
		"p-2":    {"cx.purchases", "acme/c-1001"},
		"s-1":    {"cx.purchases", "acme/c-1001"},
		"ref-1":  {"cx.purchases", "acme/c-1001"},
	}
	sent := map[string]events.Event{}
	for _, f := range goodFiles(t) {
		body, err := os.ReadFile(f)
		require.NoError(t, err)
		ev, _, err := events.NewDecoder(events.Strict).Decode(body)
		require.NoError(t, err)
		key := acmeWriter
		if ev.Tenant == "acme-eu_2" {
			key = acmeEUWriter
		}
		a := e.post(t, key, "application/json", body)
		require.Equal(t, http.StatusAccepted, a.status, "%s: %s", f, a.body)
		require.JSONEq(t, `{"accepted":1}`, string(a.body))
		sent[ev.ID] = ev
	}
	require.Len(t, sent, len(want))
	perTopic := map[string]int{}
	for _, w := range want {
		perTopic[w.topic]++
	}
	got := 0
	for topic, n := range perTopic {
		for _, rec := range testenv.Consume(t, e.kafka, topic, n) {
			ev, unknown, err := events.NewDecoder(events.Strict).Decode(rec.Value)
			require.NoError(t, err)
			require.Empty(t, unknown)
			w, ok := want[ev.ID]
			require.True(t, ok, "unexpected event %s", ev.ID)
			require.Equal(t, w.topic, rec.Topic, ev.ID)
			require.Equal(t, w.key, string(rec.Key), ev.ID)
			orig := sent[ev.ID]
			require.True(t, orig.OccurredAt.Equal(ev.OccurredAt))
			ev.OccurredAt = orig.OccurredAt
			require.Equal(t, orig, ev)
			got++
		}
		require.Equal(t, int64(n), testenv.Count(t, e.kafka, topic), topic)
	}
	require.Equal(t, len(want), got)
}

func surveyJSON(id, tenant string, score int) string {
	return fmt.Sprintf(`{"id":%q,"type":"survey.response","tenant":%q,"occurred_at":"2026-11-20T10:00:00Z","dims":{"store":"s1"},"survey":{"metric":"nps","score":%d}}`, id, tenant, score)
}

func TestArrayAndNDJSON(t *testing.T) {
	e := start(t, nil)
	arr := "[" + surveyJSON("a-1", "acme", 9) + ",\n " + surveyJSON("a-2", "acme", 3) + "]"
	a := e.post(t, acmeWriter, "application/json", []byte(arr))
	require.Equal(t, http.StatusAccepted, a.status, string(a.body))
	require.JSONEq(t, `{"accepted":2}`, string(a.body))

	nd := surveyJSON("n-1", "acme", 10) + "\n\n" + surveyJSON("n-2", "acme", 0) + "\r\n" + surveyJSON("n-3", "acme", 7) + "\n"
	a = e.post(t, acmeWriter, "application/x-ndjson", []byte(nd))
	require.Equal(t, http.StatusAccepted, a.status, string(a.body))
	require.JSONEq(t, `{"accepted":3}`, string(a.body))

	ids := map[string]bool{}
	for _, rec := range testenv.Consume(t, e.kafka, "cx.surveys", 5) {
		var v struct{ ID string }
		require.NoError(t, json.Unmarshal(rec.Value, &v))
		ids[v.ID] = true
	}
	require.Equal(t, map[string]bool{"a-1": true, "a-2": true, "n-1": true, "n-2": true, "n-3": true}, ids)
}

// TestBadPayloadsName their fields: every bad payload of the testdata gets a
// 400 listing the same field and reason as its golden .err file, and
// nothing is written.
func TestBadPayloadsNameTheirFields(t *testing.T) {
	e := start(t, nil)
	files, err := filepath.Glob("../../pkg/events/testdata/bad/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			body, err := os.ReadFile(f)
			require.NoError(t, err)
			golden, err := os.ReadFile(strings.TrimSuffix(f, ".json") + ".err")
			require.NoError(t, err)
			a := e.post(t, acmeWriter, "application/json", body)
			require.Equal(t, http.StatusBadRequest, a.status, string(a.body))
			var got []string
			for _, ee := range a.eventErrors(t) {
				require.Equal(t, 0, ee.Index)
				got = append(got, events.Problem{Field: ee.Field, Reason: ee.Reason}.String())
			}
			require.Equal(t, strings.Split(strings.TrimSpace(string(golden)), "\n"), got)
		})
	}
	for _, topic := range topics {
		require.Zero(t, testenv.Count(t, e.kafka, topic), topic)
	}
}

func TestErrorPaths(t *testing.T) {
	e := start(t, nil)
	good := []byte(surveyJSON("g-1", "acme", 9))
	many := make([]string, ingest.MaxEvents+1)
	for i := range many {
		many[i] = surveyJSON(fmt.Sprintf("m-%d", i), "acme", 5)
	}
	big := surveyJSON("big", "acme", 9)
	big = big[:len(big)-2] + `,"comment":"` + strings.Repeat("x", ingest.MaxBodyBytes) + `"}}`
	purchase := func(currency string) []byte {
		return []byte(`{"id":"p-1","type":"purchase.completed","tenant":"acme","occurred_at":"2026-11-20T10:00:00Z","customer_id":"c-1","purchase":{"order_id":"o-1","amount":12.5,"currency":"` + currency + `"}}`)
	}
	for _, tc := range []struct {
		name        string
		key         string
		contentType string
		body        []byte
		status      int
		field       string // expected field of the first event error, if any
		reason      string // expected substring of the answer
	}{
		{"no key", "", "application/json", good, 401, "", "missing API key"},
		{"unknown key", "not-a-key", "application/json", good, 401, "", "unknown API key"},
		{"key without write", acmeReader, "application/json", good, 403, "", "lacks the write scope"},
		{"other tenant", globexWriter, "application/json", good, 403, "tenant", "the API key is for tenant globex, not acme"},
		{"body over 1 MiB", acmeWriter, "application/json", []byte(big), 413, "", "larger than 1048576 bytes"},
		{"1001 events in an array", acmeWriter, "application/json", []byte("[" + strings.Join(many, ",") + "]"), 413, "", "more than 1000 events"},
		{"1001 events as NDJSON", acmeWriter, "application/x-ndjson", []byte(strings.Join(many, "\n")), 413, "", "more than 1000 events"},
		{"malformed array", acmeWriter, "application/json", []byte(`[{"id":`), 400, "", "malformed JSON"},
		{"malformed single", acmeWriter, "application/json", []byte(`{"id":`), 400, "", "malformed JSON"},
		{"empty body", acmeWriter, "application/json", nil, 400, "", "no events"},
		{"array nested 100,000 deep", acmeWriter, "application/json", []byte(strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)), 400, "", "malformed JSON: too big depth for the nested JSON"},
		{"object nested 100,000 deep", acmeWriter, "application/json", []byte(strings.Repeat(`{"a":`, 100_000) + "1" + strings.Repeat("}", 100_000)), 400, "", "malformed JSON: too big depth for the nested JSON"},
		{"currency mismatch", acmeWriter, "application/json", purchase("USD"), 400, "purchase.currency", "USD is not the reporting currency EUR of tenant acme"},
		{"amount too large", acmeWriter, "application/json", []byte(strings.Replace(string(purchase("EUR")), "12.5", "1e305", 1)), 400, "purchase.amount", "1e+305 is more than the largest allowed, 1e+11"},
		{"unknown tenant", acmeWriter, "application/json", []byte(surveyJSON("u-1", "acme", 9)[:0] + `{"id":"u-1","type":"survey.response","tenant":"initech","occurred_at":"2026-11-20T10:00:00Z","survey":{"metric":"nps","score":1}}`), 403, "tenant", "not initech"},
		{"one bad event spoils the batch", acmeWriter, "application/json", []byte("[" + surveyJSON("ok-1", "acme", 9) + "," + surveyJSON("bad-1", "acme", 12) + "]"), 400, "survey.score", "12 is outside 0-10 for nps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.post(t, tc.key, tc.contentType, tc.body)
			require.Equal(t, tc.status, a.status, string(a.body))
			require.Contains(t, string(a.body), tc.reason)
			require.Less(t, len(a.body), 1024, "an answer in a few words")
			if tc.field != "" {
				errs := a.eventErrors(t)
				require.NotEmpty(t, errs)
				require.Equal(t, tc.field, errs[0].Field)
			}
			if tc.status == 401 {
				require.Contains(t, a.header.Get("WWW-Authenticate"), "Bearer")
			}
		})
	}
	for _, topic := range topics {
		require.Zero(t, testenv.Count(t, e.kafka, topic), "nothing may be written by a refused request")
	}

	// The batch error names the index and id of the bad event.
	a := e.post(t, acmeWriter, "application/json", []byte("["+surveyJSON("ok-1", "acme", 9)+","+surveyJSON("bad-1", "acme", 12)+"]"))
	require.Equal(t, []ingest.EventError{{Index: 1, ID: "bad-1", Field: "survey.score", Reason: "12 is outside 0-10 for nps"}}, a.eventErrors(t))

	// A matching currency passes.
	a = e.post(t, acmeWriter, "application/json", purchase("EUR"))
	require.Equal(t, http.StatusAccepted, a.status, string(a.body))
}

func TestUnknownTenantWithInsecureMode(t *testing.T) {
	e := start(t, func(c *ingest.Config) { c.APIKeysFile, c.InsecureNoAuth = "", true })
	a := e.post(t, "", "application/json", []byte(`{"id":"u-1","type":"survey.response","tenant":"initech","occurred_at":"2026-11-20T10:00:00Z","survey":{"metric":"nps","score":1}}`))
	require.Equal(t, http.StatusBadRequest, a.status, string(a.body))
	require.Equal(t, []ingest.EventError{{Index: 0, ID: "u-1", Field: "tenant", Reason: `unknown tenant "initech"`}}, a.eventErrors(t))
	a = e.post(t, "", "application/json", []byte(surveyJSON("g-1", "globex", 9)))
	require.Equal(t, http.StatusAccepted, a.status, string(a.body))
}

func TestRateLimit(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	cluster, addr := testenv.Kafka(t, 1, topics...)
	_ = cluster
	cfg := ingest.Config{
		Kafka:    kafkaconn.Config{Brokers: []string{addr}},
		Common:   config.Common{TopicPrefix: "cx.", InsecureNoAuth: true, Log: "json"},
		HTTPAddr: ":0", RateLimit: 100, RateBurst: 1000, WriteTimeout: 3 * time.Second, ShutdownTimeout: time.Second,
	}
	s, err := ingest.New(cfg, zap.NewNop(), ingest.WithClock(clock))
	require.NoError(t, err)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { srv.Close(); _ = s.Close() })
	e := &env{url: srv.URL, kafka: addr}

	batch := func(prefix, tenant string, n int) []byte {
		items := make([]string, n)
		for i := range items {
			items[i] = surveyJSON(fmt.Sprintf("%s-%d", prefix, i), tenant, 8)
		}
		return []byte("[" + strings.Join(items, ",") + "]")
	}
	// The burst of 1000 is spent by 600 + 400 events.
	require.Equal(t, http.StatusAccepted, e.post(t, "", "", batch("a", "acme", 600)).status)
	require.Equal(t, http.StatusAccepted, e.post(t, "", "", batch("b", "acme", 400)).status)
	// 300 more need 3 s at 100 events/s.
	a := e.post(t, "", "", batch("c", "acme", 300))
	require.Equal(t, http.StatusTooManyRequests, a.status, string(a.body))
	require.Equal(t, "3", a.header.Get("Retry-After"))
	// Another tenant has its own bucket.
	require.Equal(t, http.StatusAccepted, e.post(t, "", "", batch("d", "globex", 300)).status)
	// After 3 s the 300 fit; the refused request took nothing.
	now = now.Add(3 * time.Second)
	require.Equal(t, http.StatusAccepted, e.post(t, "", "", batch("c", "acme", 300)).status)
	require.Equal(t, int64(1600), testenv.Count(t, addr, "cx.surveys"))
}

func TestKafkaDownAnswers503(t *testing.T) {
	e := start(t, func(c *ingest.Config) { c.WriteTimeout = 2 * time.Second })
	require.Equal(t, http.StatusOK, get(t, e.url+"/readyz"))
	a := e.post(t, acmeWriter, "application/json", []byte(surveyJSON("k-1", "acme", 9)))
	require.Equal(t, http.StatusAccepted, a.status, string(a.body))

	e.cluster.Close()
	a = e.post(t, acmeWriter, "application/json", []byte(surveyJSON("k-2", "acme", 9)))
	require.Equal(t, http.StatusServiceUnavailable, a.status, string(a.body))
	require.Equal(t, "5", a.header.Get("Retry-After"))
	require.Contains(t, string(a.body), "retry the whole request")
	require.Equal(t, http.StatusServiceUnavailable, get(t, e.url+"/readyz"))
	require.Equal(t, http.StatusOK, get(t, e.url+"/healthz"))
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestMetricsCountAcceptedAndRejected(t *testing.T) {
	e := start(t, nil)
	require.Equal(t, http.StatusAccepted, e.post(t, acmeWriter, "", []byte(surveyJSON("x-1", "acme", 9))).status)
	require.Equal(t, http.StatusBadRequest, e.post(t, acmeWriter, "", []byte(surveyJSON("x-2", "acme", 11))).status)
	require.Equal(t, http.StatusUnauthorized, e.post(t, "", "", []byte(surveyJSON("x-3", "acme", 1))).status)
	resp, err := http.Get(e.url + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	text := string(b)
	require.Contains(t, text, `cxpulse_ingest_events_accepted_total{topic="cx.surveys"} 1`)
	require.Contains(t, text, `cxpulse_ingest_requests_rejected_total{reason="invalid"} 1`)
	require.Contains(t, text, `cxpulse_ingest_requests_rejected_total{reason="unauthorized"} 1`)
	require.Contains(t, text, `cxpulse_ingest_request_duration_seconds_count{code="202"} 1`)
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	env := map[string]string{
		"CXPULSE_KAFKA_BROKERS":       "nohost",
		"CXPULSE_INGEST_RATE_BURST":   "10",
		"CXPULSE_KAFKA_WRITE_TIMEOUT": "7x",
	}
	var cfg ingest.Config
	set := config.NewSet("ingest", func(k string) string { return env[k] })
	cfg.Register(set)
	err := set.Parse(nil)
	require.ErrorContains(t, err, `CXPULSE_KAFKA_WRITE_TIMEOUT: "7x" is not a duration`)
	err = cfg.Validate()
	require.ErrorContains(t, err, `CXPULSE_KAFKA_BROKERS: "nohost" is not host:port`)
	require.ErrorContains(t, err, "CXPULSE_INGEST_RATE_BURST: 10 must be at least 1000")
	require.ErrorContains(t, err, "CXPULSE_API_KEYS_FILE: required unless CXPULSE_INSECURE_NO_AUTH=1")

	// Flags win over the environment.
	cfg = ingest.Config{}
	set = config.NewSet("ingest", func(k string) string { return map[string]string{"CXPULSE_HTTP_ADDR": ":1111"}[k] })
	cfg.Register(set)
	require.NoError(t, set.Parse([]string{"-http-addr", ":2222", "-insecure-no-auth", "1"}))
	require.NoError(t, cfg.Validate())
	require.Equal(t, ":2222", cfg.HTTPAddr)
	require.Equal(t, []string{"localhost:9092"}, cfg.Kafka.Brokers)
	require.Equal(t, 10*time.Second, cfg.WriteTimeout)
}

var _ = context.Background
