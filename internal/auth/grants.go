package auth

import (
	"context"
	"errors"
	"net/http"
	"sync"
)

// grants are the requests in progress under a key: when the keys in force
// change, each is checked again and a request whose key is gone, or no
// longer grants its scope for its tenant, has its context cancelled, so a
// long-lived answer (a live stream) ends with its key.
type grants struct {
	mu   sync.Mutex
	live map[*grant]struct{}
}

type grant struct {
	token  string
	scope  Scope
	tenant string
	cancel context.CancelCauseFunc
}

// ErrKeyRevoked ends a request whose key was removed or narrowed while
// it was being answered.
var ErrKeyRevoked = errors.New("the API key was removed or narrowed while the request was being answered")

// hold registers r as served under token and returns it with a context
// that ends when the key stops granting scope for tenant, and the function
// that forgets it once answered.
func (g *grants) hold(r *http.Request, token string, scope Scope, tenant string) (*http.Request, func()) {
	ctx, cancel := context.WithCancelCause(r.Context())
	gr := &grant{token: token, scope: scope, tenant: tenant, cancel: cancel}
	g.mu.Lock()
	if g.live == nil {
		g.live = map[*grant]struct{}{}
	}
	g.live[gr] = struct{}{}
	g.mu.Unlock()
	return r.WithContext(ctx), func() {
		g.mu.Lock()
		delete(g.live, gr)
		g.mu.Unlock()
		cancel(nil)
	}
}

// recheck ends the requests that keys no longer admit.
func (g *grants) recheck(keys *Keys) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for gr := range g.live {
		if k, ok := keys.Lookup(gr.token); !ok || k.Tenant != gr.tenant || !k.Has(gr.scope) {
			gr.cancel(ErrKeyRevoked)
			delete(g.live, gr)
		}
	}
}
