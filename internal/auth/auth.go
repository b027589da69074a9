// Package auth maps bearer API keys to tenants. Keys are stored only as
// SHA-256 digests in a YAML file; a key acts for one tenant and carries the
// scopes write (ingest) and read (scores API). Deciding which scope an
// endpoint needs is left to the caller.
package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/cxpulse/cxpulse/pkg/events"
)

// Scope is what a key may do.
type Scope string

// The scopes a key can hold.
const (
	ScopeWrite Scope = "write"
	ScopeRead  Scope = "read"
	// ScopeErase erases customers (DELETE /v1/tenants/{t}/customers/{id}).
	ScopeErase Scope = "erase"
)

// Key is one API key's grant.
type Key struct {
	Tenant string  `yaml:"tenant"`
	SHA256 string  `yaml:"sha256"`
	Scopes []Scope `yaml:"scopes"`
}

// Has reports whether k grants scope s.
func (k Key) Has(s Scope) bool { return slices.Contains(k.Scopes, s) }

// Keys is a loaded keys file.
type Keys struct {
	digests [][sha256.Size]byte
	grants  []Key
	// sum is the SHA-256 of the file the keys came from, to tell when it
	// changed.
	sum [sha256.Size]byte
}

// Load reads a keys file: `keys: [{tenant: acme, sha256: <hex>, scopes: [write, read]}]`.
func Load(path string) (*Keys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading API keys file: %w", err)
	}
	k, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("API keys file %s: %w", path, err)
	}
	k.sum = sha256.Sum256(b)
	return k, nil
}

// Parse reads the YAML of a keys file, rejecting unknown fields.
func Parse(b []byte) (*Keys, error) {
	var file struct {
		Keys []Key `yaml:"keys"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("decoding YAML: %w", err)
	}
	keys := &Keys{}
	seen := make(map[[sha256.Size]byte]bool, len(file.Keys))
	var errs []error
	for i, k := range file.Keys {
		digest, err := hex.DecodeString(strings.ToLower(k.SHA256))
		switch {
		case !events.ValidTenant(k.Tenant):
			errs = append(errs, fmt.Errorf("keys[%d].tenant: %q is not a tenant name", i, k.Tenant))
			continue
		case err != nil || len(digest) != sha256.Size:
			errs = append(errs, fmt.Errorf("keys[%d].sha256: must be 64 hex digits (the SHA-256 of the key)", i))
			continue
		case len(k.Scopes) == 0:
			errs = append(errs, fmt.Errorf("keys[%d].scopes: at least one of write, read, erase", i))
			continue
		}
		for _, s := range k.Scopes {
			if s != ScopeWrite && s != ScopeRead && s != ScopeErase {
				errs = append(errs, fmt.Errorf("keys[%d].scopes: %q is not write, read or erase", i, s))
			}
		}
		var d [sha256.Size]byte
		copy(d[:], digest)
		if seen[d] {
			errs = append(errs, fmt.Errorf("keys[%d].sha256: the same key is listed twice", i))
		}
		seen[d] = true
		keys.digests = append(keys.digests, d)
		keys.grants = append(keys.grants, k)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return keys, nil
}

// Digest returns the hex SHA-256 of a key, as stored in the keys file.
func Digest(key string) string {
	d := sha256.Sum256([]byte(key))
	return hex.EncodeToString(d[:])
}

// Len is the number of keys.
func (k *Keys) Len() int { return len(k.grants) }

// Lookup returns the grant of a presented key. Its digest is compared
// with every key's in constant time, so the time taken tells nothing
// about which keys exist.
func (k *Keys) Lookup(key string) (Key, bool) {
	d := sha256.Sum256([]byte(key))
	found := -1
	for i := range k.digests {
		if subtle.ConstantTimeCompare(d[:], k.digests[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Key{}, false
	}
	return k.grants[found], true
}

// Principal is who made a request: a key's tenant, or anyone when the
// service runs without authentication.
type Principal struct {
	Tenant string
	// Anyone is true when authentication is off: every tenant is allowed.
	Anyone bool
}

// Allows reports whether p may act for tenant.
func (p Principal) Allows(tenant string) bool { return p.Anyone || p.Tenant == tenant }

type ctxKey struct{}

// FromContext returns the request's Principal, set by Authenticator.Require.
func FromContext(ctx context.Context) Principal {
	p, _ := ctx.Value(ctxKey{}).(Principal)
	return p
}

// Errors the middleware answers with.
var (
	ErrNoKey      = errors.New("missing API key: send Authorization: Bearer <key>")
	ErrUnknownKey = errors.New("unknown API key")
)

// Authenticator checks bearer keys against Keys, which Reload and Watch
// replace while requests run; without keys it lets every request through
// as Anyone (CXPULSE_INSECURE_NO_AUTH=1).
type Authenticator struct {
	keys atomic.Pointer[Keys]
	off  bool
	// held are the requests in progress under a key, checked again
	// whenever the keys change.
	held grants
	// OnReject, if set, is told why a request was refused (for metrics).
	OnReject func(status int)
	reloads  *prometheus.CounterVec
	loaded   prometheus.Gauge
	fileOK   prometheus.Gauge
}

// NewAuthenticator returns an Authenticator over keys (nil: no auth).
func NewAuthenticator(keys *Keys) *Authenticator {
	a := &Authenticator{off: keys == nil,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxpulse_api_keys_reloads_total", Help: "Reloads of the API keys file, by result (ok, error: the old keys stay).",
		}, []string{"result"}),
		loaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cxpulse_api_keys", Help: "API keys in force.",
		}),
		fileOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cxpulse_api_keys_file_ok", Help: "0 while the API keys file on disk is refused (the keys in force are an older version of it).",
		}),
	}
	if keys != nil {
		a.keys.Store(keys)
		a.loaded.Set(float64(keys.Len()))
	}
	a.fileOK.Set(1)
	return a
}

// Register adds the reload metrics to reg.
func (a *Authenticator) Register(reg prometheus.Registerer) {
	reg.MustRegister(a.reloads, a.loaded, a.fileOK)
}

// Require returns middleware that admits requests whose key, sent as
// Authorization: Bearer, holds scope, answering 401 for a missing or
// unknown key and 403 for a key without the scope. The error body is
// written by fail.
func (a *Authenticator) Require(scope Scope, fail func(w http.ResponseWriter, status int, err error)) func(http.Handler) http.Handler {
	return a.require(scope, fail, false)
}

// RequireStream is Require that also accepts the key as ?token=, for
// browsers' EventSource, which cannot send headers. The token is taken out
// of the request's URL before anything else sees it.
func (a *Authenticator) RequireStream(scope Scope, fail func(w http.ResponseWriter, status int, err error)) func(http.Handler) http.Handler {
	return a.require(scope, fail, true)
}

func (a *Authenticator) require(scope Scope, fail func(w http.ResponseWriter, status int, err error), query bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, ok := bearer(r)
			if query && r.URL.Query().Has("token") {
				q := r.URL.Query()
				if !ok {
					token = q.Get("token")
					ok = token != ""
				}
				q.Del("token")
				r = r.Clone(r.Context())
				r.URL.RawQuery = q.Encode()
				r.RequestURI = r.URL.RequestURI()
			}
			keys := a.keys.Load()
			if a.off {
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, Principal{Anyone: true})))
				return
			}
			reject := func(status int, err error) {
				if a.OnReject != nil {
					a.OnReject(status)
				}
				if status == http.StatusUnauthorized {
					w.Header().Set("WWW-Authenticate", `Bearer realm="cxpulse"`)
				}
				fail(w, status, err)
			}
			if !ok {
				reject(http.StatusUnauthorized, ErrNoKey)
				return
			}
			key, found := keys.Lookup(token)
			switch {
			case !found:
				reject(http.StatusUnauthorized, ErrUnknownKey)
			case !key.Has(scope):
				reject(http.StatusForbidden, fmt.Errorf("the key of tenant %s lacks the %s scope", key.Tenant, scope))
			default:
				r, release := a.held.hold(r, token, scope, key.Tenant)
				defer release()
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, Principal{Tenant: key.Tenant})))
			}
		})
	}
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
