// Package erasure forgets a customer (GDPR art. 17): it retracts every
// contribution of theirs that a window or calendar period still holds,
// removes everything else that names them, records the erasure with a
// receipt in Redis and on the compacted topic cx.erasures under a keyed
// hash (never the plain id), and tells the aggregator, the importer and
// the replay which events belong to erased customers, so that no replay
// brings them back.
package erasure

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// KeyKey holds the erasure hash key cxpulse made when none is configured
// (CXPULSE_ERASURE_KEY), so that every instance and the CLI share it.
const KeyKey = "cxpulse:erasure-key"

// Hasher names customers by a keyed hash of tenant and id.
type Hasher struct {
	key []byte
	// kept is true when the key lives in Redis (KeyKey), not in the
	// configuration.
	kept bool
}

// NewHasher returns a Hasher with key.
func NewHasher(key []byte) *Hasher { return &Hasher{key: key} }

// Hash returns the keyed hash of a customer of tenant: 32 hex digits of
// HMAC-SHA256(key, tenant NUL customer).
func (h *Hasher) Hash(tenant, customer string) string {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(tenant))
	m.Write([]byte{0})
	m.Write([]byte(customer))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// LoadHasher returns the hasher of the configured key, or when none is
// configured, of the key kept in Redis (made there once, at random).
func LoadHasher(ctx context.Context, rdb redis.UniversalClient, configured string) (*Hasher, error) {
	if configured != "" {
		return NewHasher([]byte(configured)), nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("making an erasure hash key: %w", err)
	}
	if err := rdb.SetNX(ctx, KeyKey, hex.EncodeToString(b), 0).Err(); err != nil {
		return nil, fmt.Errorf("keeping the erasure hash key in Redis (%s): %w", KeyKey, err)
	}
	key, err := rdb.Get(ctx, KeyKey).Result()
	if err != nil {
		return nil, fmt.Errorf("reading the erasure hash key from Redis (%s): %w", KeyKey, err)
	}
	if key == "" {
		return nil, errors.New("the erasure hash key in Redis (" + KeyKey + ") is empty")
	}
	return &Hasher{key: []byte(key), kept: true}, nil
}

// keep puts the key back into Redis when it lives there and Redis lost it
// (an instance that still knows it keeps the erasures recognisable).
func (h *Hasher) keep(ctx context.Context, rdb redis.UniversalClient) error {
	if !h.kept {
		return nil
	}
	if err := rdb.SetNX(ctx, KeyKey, string(h.key), 0).Err(); err != nil {
		return fmt.Errorf("keeping the erasure hash key in Redis (%s): %w", KeyKey, err)
	}
	return nil
}
