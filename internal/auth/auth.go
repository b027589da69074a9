// Package auth maps bearer API keys to tenants. Keys are stored only as
// SHA-256 digests in a YAML file; a key acts for one tenant and carries the
// scopes write (ingest) and read (scores API). Deciding which scope an
// endpoint needs is left to the caller.
package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cxpulse/cxpulse/pkg/events"
)

// Scope is what a key may do.
type Scope string

// The scopes a key can hold.
const (
	ScopeWrite Scope = "write"
	ScopeRead  Scope = "read"
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
	byDigest map[[sha256.Size]byte]Key
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
	keys := &Keys{byDigest: make(map[[sha256.Size]byte]Key, len(file.Keys))}
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
			errs = append(errs, fmt.Errorf("keys[%d].scopes: at least one of write, read", i))
			continue
		}
		for _, s := range k.Scopes {
			if s != ScopeWrite && s != ScopeRead {
				errs = append(errs, fmt.Errorf("keys[%d].scopes: %q is not write or read", i, s))
			}
		}
		var d [sha256.Size]byte
		copy(d[:], digest)
		if _, dup := keys.byDigest[d]; dup {
			errs = append(errs, fmt.Errorf("keys[%d].sha256: the same key is listed twice", i))
		}
		keys.byDigest[d] = k
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

// Lookup returns the grant of a presented key.
func (k *Keys) Lookup(key string) (Key, bool) {
	g, ok := k.byDigest[sha256.Sum256([]byte(key))]
	return g, ok
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

// Authenticator checks bearer keys against Keys; with nil Keys it lets
// every request through as Anyone (CXPULSE_INSECURE_NO_AUTH=1).
type Authenticator struct {
	keys *Keys
	// OnReject, if set, is told why a request was refused (for metrics).
	OnReject func(status int)
	// AllowQueryToken accepts the key as ?token= (for EventSource).
	AllowQueryToken bool
}

// NewAuthenticator returns an Authenticator over keys (nil: no auth).
func NewAuthenticator(keys *Keys) *Authenticator { return &Authenticator{keys: keys} }

// Require returns middleware that admits requests whose key holds scope,
// answering 401 for a missing or unknown key and 403 for a key without the
// scope. The error body is {"error": "..."}; write it with errorBody.
func (a *Authenticator) Require(scope Scope, fail func(w http.ResponseWriter, status int, err error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if a.keys == nil {
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, Principal{Anyone: true})))
				return
			}
			token, ok := bearer(r)
			if !ok && a.AllowQueryToken {
				token = r.URL.Query().Get("token")
				ok = token != ""
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
			key, found := a.keys.Lookup(token)
			switch {
			case !found:
				reject(http.StatusUnauthorized, ErrUnknownKey)
			case !key.Has(scope):
				reject(http.StatusForbidden, fmt.Errorf("the key of tenant %s lacks the %s scope", key.Tenant, scope))
			default:
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
