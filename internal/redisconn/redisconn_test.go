package redisconn

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRedisTLSURLs: a rediss:// URL turns TLS on, for a single server and
// for a Cluster alike.
func TestRedisTLSURLs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		url     string
		cluster bool
		tls     bool
	}{
		{"single, plaintext", "redis://h:6379/0", false, false},
		{"single, TLS", "rediss://h:6380/0", false, true},
		{"cluster, plaintext", "redis://h:7000?addr=h:7001", true, false},
		{"cluster, TLS", "rediss://h:7000?addr=h:7001", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{URL: tc.url, Cluster: tc.cluster}
			o, err := c.Options()
			require.NoError(t, err)
			require.Equal(t, tc.tls, o.TLSConfig != nil)
			if tc.tls {
				require.Equal(t, "h", o.TLSConfig.ServerName)
			}
		})
	}
}

// TestServerVersion: the version is read from INFO server, and a server
// older than 7.0 is named as the cause, not retried.
func TestServerVersion(t *testing.T) {
	info := "# Server\r\nredis_version:6.2.14\r\nredis_git_sha1:00000000\r\n"
	require.Equal(t, "6.2.14", serverVersion(info))
	require.Equal(t, 6, majorVersion("6.2.14"))
	require.Equal(t, 7, majorVersion("7.0.15"))
	require.Equal(t, 10, majorVersion("10.0.1"))
	require.Equal(t, 0, majorVersion("unknown"))
	require.Empty(t, serverVersion("# Server\r\n"))
	err := fmt.Errorf("%w: redis_version 6.2.14", errTooOld)
	require.Equal(t, "redis: the server is older than Redis 7.0, which cxpulse needs (its scripts run PEXPIRE … GT): redis_version 6.2.14", Explain(err))
}
