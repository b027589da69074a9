package redisconn

import (
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
