// Package checkpoint is how the single writer of a tenant takes it and
// commits its state to Redis: a claim takes a new epoch of the tenant's
// checkpoint, and every commit is one atomic write, refused unless the
// writer's epoch is still the tenant's and the checkpoint is at the
// version the writer last saw (a compare-and-set). The script that does it
// only compares and writes: what to write is worked out by the writer, in
// Go. So a writer that stalled (paused, partitioned away) while another
// took the tenant can never write over the newer owner's state.
package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/store/keys"
)

// Key is a tenant's checkpoint hash: `epoch` (the owner's claim) and
// `version` (the commits so far).
func Key(tenant string) string { return keys.Tenant(tenant, "ck") }

// ErrFenced refuses a commit of a writer whose claim another took since,
// or that did not start from the checkpoint's version.
var ErrFenced = errors.New("the tenant's checkpoint moved on: another writer claimed it or committed since")

// Claim is a writer's hold on a tenant: its epoch, and the checkpoint
// version its next commit must start from.
type Claim struct {
	Tenant  string
	Epoch   int64
	Version int64
}

// Write is one field of one hash of the tenant to set, or to delete when
// Delete.
type Write struct {
	Key, Field, Value string
	Delete            bool
}

// Checkpoints claims tenants and commits their writes.
type Checkpoints struct {
	rdb redis.UniversalClient
}

// New returns the checkpoints kept in rdb.
func New(rdb redis.UniversalClient) *Checkpoints { return &Checkpoints{rdb: rdb} }

// claimScript takes a new epoch and answers it with the version.
var claimScript = redis.NewScript(`
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
local version = redis.call('HGET', KEYS[1], 'version') or '0'
return {epoch, version}`)

// Claim takes the tenant: from now on a commit of an earlier claim is
// refused.
func (c *Checkpoints) Claim(ctx context.Context, tenant string) (Claim, error) {
	res, err := claimScript.Run(ctx, c.rdb, []string{Key(tenant)}).Slice()
	if err != nil {
		return Claim{}, fmt.Errorf("claiming tenant %s: %w", tenant, err)
	}
	epoch, _ := res[0].(int64)
	version, err := strconv.ParseInt(fmt.Sprint(res[1]), 10, 64)
	if err != nil {
		return Claim{}, fmt.Errorf("claiming tenant %s: checkpoint version %v: %w", tenant, res[1], err)
	}
	return Claim{Tenant: tenant, Epoch: epoch, Version: version}, nil
}

// commitScript checks the epoch and version, then writes. KEYS[1] is the
// checkpoint, KEYS[2..] the hashes written; ARGV: epoch, version expected,
// version after, then per write its key's position in KEYS, "s" or "d",
// the field and (for "s") the value.
var commitScript = redis.NewScript(`
local ck = redis.call('HMGET', KEYS[1], 'epoch', 'version')
if ck[1] ~= ARGV[1] or (ck[2] or '0') ~= ARGV[2] then
  return {'fenced', ck[1] or '', ck[2] or '0'}
end
local i = 4
while i <= #ARGV do
  local key = KEYS[tonumber(ARGV[i])]
  if ARGV[i + 1] == 's' then
    redis.call('HSET', key, ARGV[i + 2], ARGV[i + 3])
    i = i + 4
  else
    redis.call('HDEL', key, ARGV[i + 2])
    i = i + 3
  end
end
redis.call('HSET', KEYS[1], 'version', ARGV[3])
return {'ok'}`)

// Commit writes ws atomically when cl is still the tenant's claim and the
// checkpoint is at cl.Version, and moves cl to the next version; else it
// writes nothing and answers ErrFenced. Every key must be the tenant's
// (one hash slot).
func (c *Checkpoints) Commit(ctx context.Context, cl *Claim, ws []Write) error {
	prefix := keys.Tenant(cl.Tenant)
	ks := []string{Key(cl.Tenant)}
	pos := map[string]int{}
	next := cl.Version + 1
	args := make([]any, 0, 3+4*len(ws))
	args = append(args, cl.Epoch, cl.Version, next)
	for _, w := range ws {
		if !strings.HasPrefix(w.Key, prefix) {
			return fmt.Errorf("committing tenant %s: key %s is not the tenant's", cl.Tenant, w.Key)
		}
		n, ok := pos[w.Key]
		if !ok {
			ks = append(ks, w.Key)
			n = len(ks)
			pos[w.Key] = n
		}
		if w.Delete {
			args = append(args, n, "d", w.Field)
		} else {
			args = append(args, n, "s", w.Field, w.Value)
		}
	}
	res, err := commitScript.Run(ctx, c.rdb, ks, args...).StringSlice()
	if err != nil {
		return fmt.Errorf("committing tenant %s: %w", cl.Tenant, err)
	}
	if res[0] != "ok" {
		return fmt.Errorf("committing tenant %s at epoch %d, version %d (the checkpoint is at epoch %s, version %s): %w",
			cl.Tenant, cl.Epoch, cl.Version, res[1], res[2], ErrFenced)
	}
	cl.Version = next
	return nil
}
