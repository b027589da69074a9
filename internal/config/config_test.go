package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSecretFromFile: a secret comes from its variable or from the file
// its _FILE variable names (a trailing newline dropped); both is an error
// naming both.
func TestSecretFromFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	require.NoError(t, os.WriteFile(file, []byte("s3cret\n"), 0o600))
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
		err  string
	}{
		{"from the variable", map[string]string{"CXPULSE_X_PASSWORD": "direct"}, "direct", ""},
		{"from the file", map[string]string{"CXPULSE_X_PASSWORD_FILE": file}, "s3cret", ""},
		{"both", map[string]string{"CXPULSE_X_PASSWORD": "direct", "CXPULSE_X_PASSWORD_FILE": file}, "",
			"CXPULSE_X_PASSWORD and CXPULSE_X_PASSWORD_FILE: set one of them, not both"},
		{"a missing file", map[string]string{"CXPULSE_X_PASSWORD_FILE": file + ".nope"}, "", "CXPULSE_X_PASSWORD_FILE: open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			s := NewSet("x", func(k string) string { return tc.env[k] })
			s.Secret(&got, "CXPULSE_X_PASSWORD", "a password")
			err := s.Parse(nil)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
