// Package deploy_test checks the deployment files statically: they cannot
// run here (no Docker engine, no cluster), so every env var, port, topic,
// probe and mounted file they use is checked against the code.
package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/cxpulse/cxpulse/internal/aggregate"
	"github.com/cxpulse/cxpulse/internal/auth"
	"github.com/cxpulse/cxpulse/internal/config"
	"github.com/cxpulse/cxpulse/internal/demo"
	"github.com/cxpulse/cxpulse/internal/ingest"
	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// settings returns the env vars each binary reads, with their defaults.
func settings(t *testing.T) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for name, r := range map[string]interface{ Register(*config.Set) }{
		"ingest": &ingest.Config{}, "aggregator": &aggregate.Config{}, "demo": &demo.Config{},
	} {
		s := config.NewSet(name, func(string) string { return "" })
		r.Register(s)
		out[name] = map[string]string{}
		for _, st := range s.Settings() {
			out[name][st.Env] = st.Default
		}
	}
	return out
}

func readYAML(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		require.NoError(t, err, path)
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

func m(v any) map[string]any  { r, _ := v.(map[string]any); return r }
func l(v any) []any           { r, _ := v.([]any); return r }
func s(v any) string          { r, _ := v.(string); return r }
func port(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

// command is a compose service's command, its parts joined by spaces.
func command(svc any) string {
	var parts []string
	for _, c := range l(m(svc)["command"]) {
		parts = append(parts, s(c))
	}
	return strings.Join(parts, " ")
}

func inputTopics() []string {
	var out []string
	for _, typ := range events.Types {
		if t := typ.Topic(events.DefaultTopicPrefix); !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func TestDockerCompose(t *testing.T) {
	known := settings(t)
	services := m(readYAML(t, "../docker-compose.yml")[0]["services"])
	for _, name := range []string{"kafka", "kafka-topics", "redis", "ingest", "aggregator"} {
		require.Contains(t, services, name)
	}

	// Topics created are the input topics of pkg/events plus the outputs.
	cmd := command(services["kafka-topics"])
	for _, topic := range append(inputTopics(), "cx.scores", "cx.alerts", "cx.deadletter") {
		require.Contains(t, cmd, topic)
	}

	kafkaEnv := m(m(services["kafka"])["environment"])
	for _, binary := range []string{"ingest", "aggregator"} {
		svc := m(services[binary])
		require.Equal(t, "/usr/local/bin/"+binary, s(l(svc["entrypoint"])[0]))
		env := m(svc["environment"])
		for k, v := range env {
			require.Contains(t, known[binary], k, "%s sets %s, which %s does not read", binary, k, binary)
			require.NotEmpty(t, s(v), k)
		}
		// The HTTP port is the one published.
		httpPort := port(s(env["CXPULSE_HTTP_ADDR"]))
		require.NotEmpty(t, httpPort)
		published := false
		for _, p := range l(svc["ports"]) {
			published = published || strings.HasSuffix(s(p), ":"+httpPort)
		}
		require.True(t, published, "%s does not publish its port %s", binary, httpPort)
		// Brokers point at a Kafka listener.
		for _, b := range config.SplitList(s(env["CXPULSE_KAFKA_BROKERS"])) {
			require.Contains(t, s(kafkaEnv["KAFKA_ADVERTISED_LISTENERS"]), "//"+b, "%s: broker %s is not advertised", binary, b)
		}
		// Mounted config files exist and load.
		for _, vol := range l(svc["volumes"]) {
			src, dst, _ := strings.Cut(s(vol), ":")
			dst = strings.TrimSuffix(dst, ":ro")
			switch dst {
			case s(env["CXPULSE_API_KEYS_FILE"]):
				_, err := auth.Load(filepath.Join("..", src))
				require.NoError(t, err)
			case s(env["CXPULSE_TENANTS_FILE"]):
				_, err := tenants.Load(filepath.Join("..", src))
				require.NoError(t, err)
			}
		}
	}
	aggEnv := m(m(services["aggregator"])["environment"])
	require.Equal(t, "redis://redis:6379/0", s(aggEnv["CXPULSE_REDIS_URL"]))
	validate := func(binary string, env map[string]any, cfg interface {
		Register(*config.Set)
		Validate() error
	}) {
		set := config.NewSet(binary, func(k string) string { return s(env[k]) })
		cfg.Register(set)
		require.NoError(t, set.Parse(nil))
		require.NoError(t, cfg.Validate(), binary)
	}
	validate("ingest", m(m(services["ingest"])["environment"]), &ingest.Config{})
	validate("aggregator", aggEnv, &aggregate.Config{})
	require.Equal(t, 2, m(m(services["aggregator"])["deploy"])["replicas"])
}

func TestKubernetes(t *testing.T) {
	known := settings(t)
	files, err := filepath.Glob("kubernetes/*.yaml")
	require.NoError(t, err)
	var docs []map[string]any
	for _, f := range files {
		docs = append(docs, readYAML(t, f)...)
	}
	byKind := map[string]map[string]map[string]any{}
	for _, d := range docs {
		kind, name := s(d["kind"]), s(m(d["metadata"])["name"])
		if byKind[kind] == nil {
			byKind[kind] = map[string]map[string]any{}
		}
		byKind[kind][name] = d
	}
	envCM := m(byKind["ConfigMap"]["cxpulse"]["data"])
	require.NotEmpty(t, envCM)
	_, err = auth.Parse([]byte(s(m(byKind["Secret"]["cxpulse-api-keys"]["stringData"])["keys.yaml"])))
	require.NoError(t, err)
	_, err = tenants.Parse([]byte(s(m(byKind["ConfigMap"]["cxpulse-tenants"]["data"])["tenants.yaml"])))
	require.NoError(t, err)

	for _, binary := range []string{"ingest", "aggregator"} {
		dep := byKind["Deployment"]["cxpulse-"+binary]
		require.NotNil(t, dep, binary)
		c := m(l(m(m(m(dep["spec"])["template"])["spec"])["containers"])[0])
		require.Equal(t, "/usr/local/bin/"+binary, s(l(c["command"])[0]))
		env := map[string]string{}
		for k, v := range envCM {
			env[k] = s(v)
		}
		for _, e := range l(c["env"]) {
			env[s(m(e)["name"])] = s(m(e)["value"])
		}
		for k := range env {
			if strings.HasPrefix(k, "CXPULSE_") {
				inAny := false
				for _, vars := range known {
					_, ok := vars[k]
					inAny = inAny || ok
				}
				require.True(t, inAny, "%s is read by no binary", k)
			}
		}
		httpPort := port(env["CXPULSE_HTTP_ADDR"])
		cport := m(l(c["ports"])[0])["containerPort"]
		require.Equal(t, httpPort, fmt.Sprint(cport), binary)
		require.Equal(t, "/readyz", s(m(m(c["readinessProbe"])["httpGet"])["path"]))
		require.Equal(t, "/healthz", s(m(m(c["livenessProbe"])["httpGet"])["path"]))
		require.NotNil(t, byKind["Service"]["cxpulse-"+binary])
		require.NotNil(t, byKind["PodDisruptionBudget"]["cxpulse-"+binary])
		require.NotEmpty(t, m(m(c["resources"])["requests"]))
		// Mounted files sit where the env vars point.
		var mounts []string
		for _, vm := range l(c["volumeMounts"]) {
			mounts = append(mounts, s(m(vm)["mountPath"]))
		}
		// Every file setting, secrets included, points into a mounted
		// volume; secrets come from files, never from the environment.
		secrets := m(byKind["Secret"]["cxpulse-connections"]["stringData"])
		for k, v := range env {
			switch {
			case strings.HasSuffix(k, "_FILE"):
				require.Contains(t, mounts, filepath.Dir(v), k)
				if filepath.Dir(v) == "/etc/cxpulse/secrets" {
					require.Contains(t, secrets, filepath.Base(v), "%s names a file the secret does not hold", k)
				}
			case strings.Contains(k, "PASSWORD") || strings.Contains(k, "SECRET") || strings.Contains(k, "ROUTING_KEY"):
				t.Errorf("%s: a secret in the environment; use %s_FILE", k, k)
			}
		}
		require.Contains(t, env, "CXPULSE_API_KEYS_FILE")
		require.Contains(t, env, "CXPULSE_TENANTS_FILE")
		require.Contains(t, env, "CXPULSE_KAFKA_SASL_PASSWORD_FILE")
		require.Contains(t, env, "CXPULSE_REDIS_PASSWORD_FILE")
	}
}

func TestDockerfileBuildsTheBinaries(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	require.NoError(t, err)
	for _, binary := range []string{"ingest", "aggregator"} {
		require.Contains(t, string(b), "./cmd/"+binary)
		_, err := os.Stat("../cmd/" + binary + "/main.go")
		require.NoError(t, err)
	}
	require.Regexp(t, regexp.MustCompile(`(?m)^USER nonroot`), string(b))
}

// TestConfigurationDocListsEverySetting keeps docs/configuration.md in step
// with the code.
func TestConfigurationDocListsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../docs/configuration.md")
	require.NoError(t, err)
	for binary, vars := range settings(t) {
		for env, def := range vars {
			require.Contains(t, string(b), "`"+env+"`", "%s setting %s is not documented", binary, env)
			if def != "" {
				require.Contains(t, string(b), "`"+def+"`", "default of %s", env)
			}
		}
	}
}

// TestDockerComposeSecureProfile: the secure profile's services read only
// settings their binary knows, take every password from a compose secret
// file (never from the environment), reach the SASL_SSL listener the
// broker advertises and Redis over TLS, and publish their ports.
func TestDockerComposeSecureProfile(t *testing.T) {
	known := settings(t)
	doc := readYAML(t, "../docker-compose.yml")[0]
	services := m(doc["services"])
	secretFiles := map[string]string{}
	for name, sec := range m(doc["secrets"]) {
		file := s(m(sec)["file"])
		_, err := os.Stat(filepath.Join("..", file))
		require.NoError(t, err, "secret %s", name)
		secretFiles["/run/secrets/"+name] = file
	}
	broker := command(services["kafka-secure"])
	require.Contains(t, broker, "listener.security.protocol.map=SECURE:SASL_SSL")
	require.Contains(t, broker, "sasl.enabled.mechanisms=SCRAM-SHA-512")
	for _, binary := range []string{"ingest", "aggregator"} {
		svc := m(services[binary+"-secure"])
		require.NotNil(t, svc, binary)
		require.Contains(t, l(svc["profiles"]), "secure")
		require.Equal(t, "/usr/local/bin/"+binary, s(l(svc["entrypoint"])[0]))
		env := m(svc["environment"])
		var mounted []string
		for _, sec := range l(svc["secrets"]) {
			mounted = append(mounted, "/run/secrets/"+s(sec))
		}
		for k, v := range env {
			require.Contains(t, known[binary], k, "%s-secure sets %s, which %s does not read", binary, k, binary)
			require.False(t, strings.Contains(k, "PASSWORD") && !strings.HasSuffix(k, "_FILE"), "%s: a password in the environment", k)
			if strings.HasPrefix(s(v), "/run/secrets/") {
				require.Contains(t, mounted, s(v), "%s: the service does not mount that secret", k)
				require.Contains(t, secretFiles, s(v), k)
			}
		}
		require.Contains(t, broker, "advertised.listeners=SECURE://"+s(env["CXPULSE_KAFKA_BROKERS"]))
		require.Equal(t, "SCRAM-SHA-512", s(env["CXPULSE_KAFKA_SASL_MECHANISM"]))
		require.NotEmpty(t, env["CXPULSE_KAFKA_TLS_CA_FILE"])
		require.NotEmpty(t, env["CXPULSE_KAFKA_SASL_PASSWORD_FILE"])
		published := false
		for _, p := range l(svc["ports"]) {
			published = published || strings.HasSuffix(s(p), ":"+port(s(env["CXPULSE_HTTP_ADDR"])))
		}
		require.True(t, published, "%s-secure does not publish its port", binary)
	}
	agg := m(m(services["aggregator-secure"])["environment"])
	require.True(t, strings.HasPrefix(s(agg["CXPULSE_REDIS_URL"]), "rediss://cx@redis-secure:"), "Redis over TLS as the ACL user")
	redisCmd := command(services["redis-secure"])
	require.Contains(t, redisCmd, "--port 0 --tls-port 6380")
	require.Contains(t, s(agg["CXPULSE_REDIS_URL"]), ":6380/")
}
