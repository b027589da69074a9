package e2e

import (
	"bytes"
	"context"
	"fmt"
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
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cxpulse/cxpulse/internal/aggregate"
	"github.com/cxpulse/cxpulse/internal/api"
	"github.com/cxpulse/cxpulse/internal/config"
	"github.com/cxpulse/cxpulse/internal/ingest"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// secureKafka starts a kfake broker asking for SASL mech (none when "")
// with user cx and password s3cret, over TLS when tls (with client
// certificates when mtls), and returns its address.
func secureKafka(t *testing.T, pki *testenv.PKI, mech string, tls, mtls bool) string {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(2, allTopics...)}
	if mech != "" {
		opts = append(opts, kfake.EnableSASL(), kfake.Superuser(mech, "cx", "s3cret"))
	}
	if tls {
		opts = append(opts, kfake.TLS(pki.ServerTLS(mtls)))
	}
	c, err := kfake.NewCluster(opts...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// TestKafkaSecurity: ingest and the aggregator reach a broker that asks
// for SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) or mutual TLS, with the
// password read from a file; events posted to ingest reach the view.
func TestKafkaSecurity(t *testing.T) {
	pki := testenv.NewPKI(t)
	password := filepath.Join(t.TempDir(), "password")
	require.NoError(t, os.WriteFile(password, []byte("s3cret\n"), 0o600))
	for _, tc := range []struct {
		name      string
		mech      string
		tls, mtls bool
	}{
		{"PLAIN over TLS", "PLAIN", true, false},
		{"SCRAM-SHA-256", "SCRAM-SHA-256", false, false},
		{"SCRAM-SHA-512 over TLS", "SCRAM-SHA-512", true, false},
		{"mutual TLS", "", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"CXPULSE_KAFKA_BROKERS": secureKafka(t, pki, tc.mech, tc.tls, tc.mtls)}
			if tc.mech != "" {
				env["CXPULSE_KAFKA_SASL_MECHANISM"], env["CXPULSE_KAFKA_SASL_USERNAME"] = tc.mech, "cx"
				env["CXPULSE_KAFKA_SASL_PASSWORD_FILE"] = password
			}
			if tc.tls {
				env["CXPULSE_KAFKA_TLS_CA_FILE"] = pki.CAFile
			}
			if tc.mtls {
				env["CXPULSE_KAFKA_TLS_CERT_FILE"], env["CXPULSE_KAFKA_TLS_KEY_FILE"] = pki.ClientCert, pki.ClientKey
			}
			ing := startIngest(t, env)
			_, redisAddr := testenv.Redis(t)
			aenv := map[string]string{"CXPULSE_REDIS_URL": "redis://" + redisAddr}
			for k, v := range env {
				aenv[k] = v
			}
			agg := startAggregator(t, aenv, newClock(time.Now()))
			var body bytes.Buffer
			for i := range 5 {
				fmt.Fprintf(&body, `{"id":"s-%d","type":"survey.response","tenant":"acme","occurred_at":%q,"survey":{"metric":"nps","score":9}}`+"\n",
					i, time.Now().Add(-time.Minute).UTC().Format(time.RFC3339))
			}
			resp, err := http.Post(ing+"/v1/events", "application/x-ndjson", &body)
			require.NoError(t, err)
			_ = resp.Body.Close()
			require.Equal(t, http.StatusAccepted, resp.StatusCode)
			require.Eventually(t, func() bool {
				var s scores.Scores
				return getJSON(t, agg.base+"/v1/tenants/acme/scores", &s) == http.StatusOK && s.Windows["1h"]["nps_responses"] == 5
			}, 30*time.Second, 50*time.Millisecond)
			requireNoSecret(t, "s3cret", getText(t, agg.base+"/metrics"), getText(t, agg.base+"/v1/status"), getText(t, ing+"/metrics"))
		})
	}
}

// startIngest runs ingest in process with env over real HTTP.
func startIngest(t *testing.T, env map[string]string) string {
	t.Helper()
	var cfg ingest.Config
	set := config.NewSet("ingest", func(k string) string {
		if k == "CXPULSE_INSECURE_NO_AUTH" {
			return "1"
		}
		return env[k]
	})
	cfg.Register(set)
	require.NoError(t, set.Parse(nil))
	require.NoError(t, cfg.Validate())
	s, err := ingest.New(cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	require.NoError(t, err)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { srv.Close(); _ = s.Close() })
	return srv.URL
}

// TestKafkaRefusalsAreNamed: a wrong password and an untrusted broker
// certificate each stop the aggregator within seconds with one error that
// names the cause and the setting, instead of retrying in silence.
func TestKafkaRefusalsAreNamed(t *testing.T) {
	pki, other := testenv.NewPKI(t), testenv.NewPKI(t)
	_, redisAddr := testenv.Redis(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"wrong password", map[string]string{"CXPULSE_KAFKA_BROKERS": secureKafka(t, pki, "SCRAM-SHA-512", false, false),
			"CXPULSE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "CXPULSE_KAFKA_SASL_USERNAME": "cx", "CXPULSE_KAFKA_SASL_PASSWORD": wrongPassword},
			"kafka: SASL authentication failed for user cx (SCRAM-SHA-512)"},
		{"untrusted certificate", map[string]string{"CXPULSE_KAFKA_BROKERS": secureKafka(t, pki, "", true, false),
			"CXPULSE_KAFKA_TLS_CA_FILE": other.CAFile},
			"kafka: the brokers' TLS certificate is not trusted (CXPULSE_KAFKA_TLS_CA_FILE)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.env["CXPULSE_REDIS_URL"] = "redis://" + redisAddr
			tc.env["CXPULSE_INSECURE_NO_AUTH"] = "1"
			tc.env["CXPULSE_HTTP_ADDR"] = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
			// Within seconds: a run still retrying when this ends would
			// return the context's error, not the named cause.
			logs, err := runRefused(t, tc.env, 15*time.Second)
			require.ErrorContains(t, err, tc.want)
			requireNoSecret(t, wrongPassword, err.Error(), logs)
			t.Logf("%s: %v", tc.name, err)
		})
	}
}

// TestRedisTLSAndACL: the aggregator counts, sweeps and publishes into a
// Redis that speaks only TLS and refuses the default user, through an ACL
// user holding only the documented rights whose password comes from a
// file; a wrong password, an untrusted certificate and an ACL without
// writes stop it at start with the cause named.
func TestRedisTLSAndACL(t *testing.T) {
	pki, other := testenv.NewPKI(t), testenv.NewPKI(t)
	addr := testenv.RedisTLS(t, pki, true)
	password := filepath.Join(t.TempDir(), "password")
	require.NoError(t, os.WriteFile(password, []byte("s3cret\n"), 0o600))
	_, broker := testenv.Kafka(t, 2, allTopics...)
	good := map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": "rediss://cx@" + addr + "/0",
		"CXPULSE_REDIS_PASSWORD_FILE": password, "CXPULSE_REDIS_TLS_CA_FILE": pki.CAFile,
		"CXPULSE_REDIS_TLS_CERT_FILE": pki.ClientCert, "CXPULSE_REDIS_TLS_KEY_FILE": pki.ClientKey}
	agg := startAggregator(t, good, newClock(time.Now()))
	produce(t, broker, surveys("acme", "a", 20, time.Now().Add(-time.Minute)))
	waitApplied(t, agg.base)
	var s scores.Scores
	require.Equal(t, http.StatusOK, getJSON(t, agg.base+"/v1/tenants/acme/scores", &s))
	require.EqualValues(t, 20, s.Windows["1h"]["nps_responses"])
	require.NoError(t, agg.agg.SweepOnce(t.Context()), "sweeping under the documented ACL")
	require.NoError(t, agg.agg.PublishOnce(t.Context()), "publishing under the documented ACL")
	requireNoSecret(t, "s3cret", getText(t, agg.base+"/metrics"), getText(t, agg.base+"/v1/status"), getText(t, agg.base+"/readyz"))

	for _, tc := range []struct {
		name string
		set  map[string]string
		want string
	}{
		{"wrong password", map[string]string{"CXPULSE_REDIS_PASSWORD_FILE": "", "CXPULSE_REDIS_URL": "rediss://cx:" + wrongPassword + "@" + addr + "/0"},
			"redis: the user or password is refused"},
		{"untrusted certificate", map[string]string{"CXPULSE_REDIS_TLS_CA_FILE": other.CAFile},
			"redis: the server's TLS certificate is not trusted (CXPULSE_REDIS_TLS_CA_FILE)"},
		{"ACL without writes", map[string]string{"CXPULSE_REDIS_URL": "rediss://narrow@" + addr + "/0"},
			"redis: the ACL user may not run what cxpulse needs (docs/security.md lists the commands)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"CXPULSE_INSECURE_NO_AUTH": "1", "CXPULSE_HTTP_ADDR": fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
			for k, v := range good {
				env[k] = v
			}
			for k, v := range tc.set {
				env[k] = v
			}
			logs, err := runRefused(t, env, 30*time.Second)
			require.ErrorContains(t, err, tc.want)
			requireNoSecret(t, wrongPassword, err.Error(), logs)
			requireNoSecret(t, "s3cret", err.Error(), logs)
			t.Logf("%s: %v", tc.name, err)
		})
	}
}

// TestSentinelFailover: the aggregator finds its Redis through two
// sentinels; the primary fails over to its replica in the middle of a
// stream; every event is counted once.
func TestSentinelFailover(t *testing.T) {
	url, failover := testenv.Sentinels(t, "cxpulse")
	_, broker := testenv.Kafka(t, 2, allTopics...)
	agg := startAggregator(t, map[string]string{"CXPULSE_KAFKA_BROKERS": broker, "CXPULSE_REDIS_URL": url,
		"CXPULSE_REDIS_SENTINEL_MASTER": "cxpulse"}, newClock(time.Now()))
	now := time.Now()
	for i := range 10 {
		produce(t, broker, surveys("acme", fmt.Sprintf("b%d", i), 300, now.Add(-time.Minute)))
		if i == 4 {
			failover()
		}
		time.Sleep(200 * time.Millisecond)
	}
	var got scores.Scores
	require.Eventually(t, func() bool {
		return getJSON(t, agg.base+"/v1/tenants/acme/scores", &got) == http.StatusOK && got.Windows["1h"]["nps_responses"] == 3000
	}, 30*time.Second, 100*time.Millisecond, "every event counted once after the failover")
	// A partition read again after the failover may still be passing over
	// what it counted: the lag reaches 0 once it has, and the count stays.
	waitApplied(t, agg.base)
	require.Equal(t, http.StatusOK, getJSON(t, agg.base+"/v1/tenants/acme/scores", &got))
	require.EqualValues(t, 3000, got.Windows["1h"]["nps_responses"], "counted once, after the partitions read again")
	var st api.Status
	require.Equal(t, http.StatusOK, getJSON(t, agg.base+"/v1/status", &st))
	for _, p := range st.Partitions {
		require.Empty(t, p.Halted, "nothing halted: a replica behind is read again, not lost")
	}
	n, _ := metricValue(t, agg.base, "cxpulse_partition_rereads_total")
	t.Logf("partitions read again after the failover: %s", n)
}

// wrongPassword is the refused password of the refusal tests: one that
// would stand out in any text it leaked into, and shares nothing with the
// good password (s3cret), so each is checked on its own.
const wrongPassword = "n0t-the-pa55word"

// runRefused runs an aggregator on env that must stop by itself within
// limit, and returns its error and every entry it logged, at any level,
// with its fields.
func runRefused(t *testing.T, env map[string]string, limit time.Duration) (string, error) {
	t.Helper()
	cfg, err := load(t, env)
	require.NoError(t, err)
	core, seen := observer.New(zap.DebugLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)).Core(), core))
	a, err := aggregate.New(cfg, log)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	err = a.Run(ctx)
	var logs strings.Builder
	for _, e := range seen.All() {
		fmt.Fprintln(&logs, e.Message, e.ContextMap())
	}
	return logs.String(), err
}

// requireNoSecret fails when secret shows in any of texts (an error, logs,
// an HTTP answer).
func requireNoSecret(t *testing.T, secret string, texts ...string) {
	t.Helper()
	for i, text := range texts {
		require.NotContains(t, text, secret, "text %d names the secret", i)
	}
}
