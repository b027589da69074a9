package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/auth"
	"github.com/cxpulse/cxpulse/internal/serve"
)

func TestDigestIsSHA256Hex(t *testing.T) {
	// printf %s test | sha256sum
	require.Equal(t, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", auth.Digest("test"))
}

func TestParseErrorsNameTheEntry(t *testing.T) {
	for _, tc := range []struct{ name, yaml, err string }{
		{"bad digest", "keys: [{tenant: acme, sha256: abc, scopes: [write]}]", "keys[0].sha256: must be 64 hex digits"},
		{"bad tenant", "keys: [{tenant: Acme, sha256: " + auth.Digest("k") + ", scopes: [write]}]", `keys[0].tenant: "Acme" is not a tenant name`},
		{"bad scope", "keys: [{tenant: acme, sha256: " + auth.Digest("k") + ", scopes: [admin]}]", `keys[0].scopes: "admin" is not write, read or erase`},
		{"no scope", "keys: [{tenant: acme, sha256: " + auth.Digest("k") + "}]", "keys[0].scopes: at least one of write, read"},
		{"typo", "keys: [{tenant: acme, sha265: x, scopes: [read]}]", "field sha265 not found"},
		{"twice", "keys: [{tenant: a, sha256: " + auth.Digest("k") + ", scopes: [read]}, {tenant: b, sha256: " + auth.Digest("k") + ", scopes: [read]}]", "keys[1].sha256: the same key is listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth.Parse([]byte(tc.yaml))
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestRequire(t *testing.T) {
	keys, err := auth.Parse([]byte("keys:\n- {tenant: acme, sha256: " + auth.Digest("w") + ", scopes: [write]}\n- {tenant: acme, sha256: " + auth.Digest("r") + ", scopes: [read]}\n"))
	require.NoError(t, err)
	a := auth.NewAuthenticator(keys)
	var seen auth.Principal
	var query string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = auth.FromContext(r.Context())
		query = r.URL.RawQuery + " " + r.RequestURI
	})
	h, stream := a.Require(auth.ScopeRead, serve.Error)(next), a.RequireStream(auth.ScopeRead, serve.Error)(next)
	for _, tc := range []struct {
		name, header, query string
		status              int
	}{
		{"read key in query, not the stream", "", "?token=r", 401},
		{"none", "", "", 401},
		{"unknown", "Bearer nope", "", 401},
		{"wrong scheme", "Basic r", "", 401},
		{"write-only key", "Bearer w", "", 403},
		{"read key", "Bearer r", "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/x"+tc.query, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			h.ServeHTTP(rec, req)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
		})
	}
	rec := httptest.NewRecorder()
	stream.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x?since=1&token=r", nil))
	require.Equal(t, 200, rec.Code, "the stream takes ?token=")
	require.Equal(t, "since=1 /x?since=1", query, "the token is gone from the URL the handler sees")
	rec = httptest.NewRecorder()
	stream.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x?token=w", nil))
	require.Equal(t, 403, rec.Code)
	require.Equal(t, auth.Principal{Tenant: "acme"}, seen)
	require.True(t, seen.Allows("acme"))
	require.False(t, seen.Allows("globex"))
}

// TestReloadEndsRevokedRequests: a request in progress ends when a reload
// removes its key or takes the scope it was admitted with; one under a key
// that keeps its grant goes on.
func TestReloadEndsRevokedRequests(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/keys.yaml"
	file := func(lines ...string) {
		require.NoError(t, os.WriteFile(path, []byte("keys:\n"+strings.Join(lines, "")), 0o600))
	}
	grant := func(key, scope string) string {
		return "- {tenant: acme, sha256: " + auth.Digest(key) + ", scopes: [" + scope + "]}\n"
	}
	file(grant("keep", "read"), grant("gone", "read"), grant("narrow", "read"))
	keys, err := auth.Load(path)
	require.NoError(t, err)
	a := auth.NewAuthenticator(keys)
	ended := map[string]chan error{"keep": make(chan error, 1), "gone": make(chan error, 1), "narrow": make(chan error, 1)}
	started := make(chan struct{}, 3)
	h := a.Require(auth.ScopeRead, serve.Error)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-r.Context().Done()
		ended[r.Header.Get("X-Name")] <- context.Cause(r.Context())
	}))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for _, k := range []string{"keep", "gone", "narrow"} {
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/x", nil)
		req.Header.Set("Authorization", "Bearer "+k)
		req.Header.Set("X-Name", k)
		go h.ServeHTTP(httptest.NewRecorder(), req)
		<-started
	}
	file(grant("keep", "read"), grant("narrow", "write"))
	require.NoError(t, a.Reload(path))
	for _, k := range []string{"gone", "narrow"} {
		select {
		case err := <-ended[k]:
			require.ErrorIs(t, err, auth.ErrKeyRevoked, k)
		case <-time.After(5 * time.Second):
			t.Fatalf("the request under %q goes on after the reload", k)
		}
	}
	select {
	case err := <-ended["keep"]:
		t.Fatalf("the request under the kept key ended: %v", err)
	default:
	}
	cancel()
	require.ErrorIs(t, <-ended["keep"], context.Canceled)
}
