package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/auth"
	"github.com/cxpulse/cxpulse/internal/testenv"
)

// writeKeys replaces the keys file at path in one rename, as a
// configuration tool would, with a read key per name.
func writeKeys(t *testing.T, path string, body string) {
	t.Helper()
	tmp := path + ".new"
	require.NoError(t, os.WriteFile(tmp, []byte(body), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

func readKeys(names ...string) string {
	out := "keys:\n"
	for _, n := range names {
		out += fmt.Sprintf("- {tenant: acme, sha256: %s, scopes: [read]}\n", auth.Digest(n))
	}
	return out
}

// startWithKeys starts a built aggregator whose keys file (returned) holds
// a read key of acme per name.
func startWithKeys(t *testing.T, names ...string) (*process, string) {
	t.Helper()
	bin := buildAggregator(t)
	_, broker := testenv.Kafka(t, 1, allTopics...)
	_, redisAddr := testenv.Redis(t)
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys(t, keys, readKeys(names...))
	return startProcess(t, bin, "a", []string{"CXPULSE_KAFKA_BROKERS=" + broker, "CXPULSE_REDIS_URL=redis://" + redisAddr,
		"CXPULSE_API_KEYS_FILE=" + keys, "CXPULSE_GROUP_ID=keys", "CXPULSE_LOG_FORMAT=json"}), keys
}

// TestKeysReload: while requests run with a key that stays, a key is added
// and one removed by a SIGHUP, a broken file is refused with the old keys
// left in force, and a fixed file is picked up without a signal. No request
// with the staying key fails.
func TestKeysReload(t *testing.T) {
	p, keys := startWithKeys(t, "stay", "old")
	status := func(key string) int {
		req, err := http.NewRequest(http.MethodGet, p.base+"/v1/tenants", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, 200, status("old"))
	require.Equal(t, 401, status("new"))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var served, failed atomic.Int64
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if s := status("stay"); s != 200 {
					failed.Add(1)
					t.Errorf("a request with the staying key answered %d", s)
					return
				}
				served.Add(1)
			}
		})
	}
	hup := func() { require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP)) }

	// A key added and one removed, on SIGHUP.
	writeKeys(t, keys, readKeys("stay", "new"))
	hup()
	require.Eventually(t, func() bool { return status("new") == 200 && status("old") == 401 }, 10*time.Second, 20*time.Millisecond)

	// A broken file: refused, said in the metrics, the keys in force stay.
	writeKeys(t, keys, "keys:\n- {tenant: acme, sha256: nothex, scopes: [read]}\n")
	hup()
	require.Eventually(t, func() bool {
		v, _ := metricValue(t, p.base, `cxpulse_api_keys_file_ok`)
		return v == "0"
	}, 10*time.Second, 20*time.Millisecond)
	v, _ := metricValue(t, p.base, `cxpulse_api_keys_reloads_total{result="error"}`)
	require.NotEqual(t, "", v)
	require.Equal(t, 200, status("new"), "the keys in force stay")

	// A fixed file is picked up by itself, without a signal.
	writeKeys(t, keys, readKeys("stay", "third"))
	require.Eventually(t, func() bool { return status("third") == 200 && status("new") == 401 }, 10*time.Second, 50*time.Millisecond)
	v, _ = metricValue(t, p.base, `cxpulse_api_keys_file_ok`)
	require.Equal(t, "1", v)
	v, _ = metricValue(t, p.base, `cxpulse_api_keys`)
	require.Equal(t, "2", v)

	close(stop)
	wg.Wait()
	require.Zero(t, failed.Load())
	require.Positive(t, served.Load())
	t.Logf("%d requests with the staying key served across three reloads", served.Load())
	log, err := os.ReadFile(p.log)
	require.NoError(t, err)
	require.Contains(t, string(log), "keys[0].sha256: must be 64 hex digits", "the refusal names the entry")
	for _, k := range []string{"stay", "old", "new", "third"} {
		require.NotContains(t, string(log), auth.Digest(k)[:16], "no key digest in the log")
	}
}

// openStream opens tenant acme's live stream with key and returns a
// channel closed when the service ends it.
func openStream(t *testing.T, base, key string) <-chan struct{} {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/v1/tenants/acme/stream", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
	}()
	return ended
}

// TestRevokedKeyEndsItsStream: a live stream ends within seconds of its key
// being removed (SIGHUP) or narrowed to another scope (the file changed,
// no signal); a stream under a key that stays goes on.
func TestRevokedKeyEndsItsStream(t *testing.T) {
	p, keys := startWithKeys(t, "stay", "removed", "narrowed")
	stay, removed, narrowed := openStream(t, p.base, "stay"), openStream(t, p.base, "removed"), openStream(t, p.base, "narrowed")
	ended := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}

	writeKeys(t, keys, readKeys("stay", "narrowed"))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool { return ended(removed) }, 5*time.Second, 20*time.Millisecond, "the removed key's stream goes on")
	require.False(t, ended(narrowed))

	writeKeys(t, keys, readKeys("stay")+fmt.Sprintf("- {tenant: acme, sha256: %s, scopes: [write]}\n", auth.Digest("narrowed")))
	require.Eventually(t, func() bool { return ended(narrowed) }, 3*auth.CheckInterval+time.Second, 20*time.Millisecond,
		"the narrowed key's stream goes on")
	require.False(t, ended(stay), "a stream under a key that stays goes on")
}
