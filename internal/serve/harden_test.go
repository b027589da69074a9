package serve_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/serve"
)

func echo(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		serve.Error(w, http.StatusRequestEntityTooLarge, err)
		return
	}
	fmt.Fprintf(w, "%d", len(b))
}

func TestHardenHeadersAndBodyLimit(t *testing.T) {
	h := serve.Harden(http.HandlerFunc(echo), serve.Hardening{BodyBytes: 10})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("0123456789")))
	require.Equal(t, "10", rec.Body.String())
	require.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
	require.Equal(t, "default-src 'none'; frame-ancestors 'none'", rec.Header().Get("Content-Security-Policy"))
	require.Equal(t, "no-referrer", rec.Header().Get("Referrer-Policy"))
	require.Empty(t, rec.Header().Get("Access-Control-Allow-Origin"), "CORS is off by default")

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("0123456789a")))
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
}

func TestCORSOnlyForConfiguredOrigins(t *testing.T) {
	h := serve.Harden(http.HandlerFunc(echo), serve.Hardening{BodyBytes: 10, Origins: []string{"https://dash.example.com"}, Methods: []string{http.MethodGet}})
	preflight := func(origin string) http.Header {
		req := httptest.NewRequest(http.MethodOptions, "/v1/tenants", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", http.MethodGet)
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Header()
	}
	ok := preflight("https://dash.example.com")
	require.Equal(t, "https://dash.example.com", ok.Get("Access-Control-Allow-Origin"))
	require.Contains(t, strings.ToLower(ok.Get("Access-Control-Allow-Headers")), "authorization")
	require.Empty(t, preflight("https://evil.example.net").Get("Access-Control-Allow-Origin"))
}

// TestHeaderLimit: a request whose header lines pass MaxHeaderBytes is
// refused by the server before any handler runs.
func TestHeaderLimit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- serve.Run(ctx, ln, http.HandlerFunc(echo), time.Second, zap.NewNop()) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	get := func(header int) int {
		req, err := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/", nil)
		require.NoError(t, err)
		req.Header.Set("X-Filler", strings.Repeat("x", header))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, get(1<<10))
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, get(serve.MaxHeaderBytes+8<<10))
}
