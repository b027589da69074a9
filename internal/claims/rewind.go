package claims

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// A rewind reads every input partition of a group again from its log
// start, with no tenant expected anywhere: each tenant's watermarks skip
// what its state holds, so a tenant whose state rolled back gets back
// what it lacks, once, from every partition. The group's rewind requests
// are counted; a claim records the last one it carried out.

// RewindKey is the count of a group's rewind requests.
func RewindKey(group string) string { return "cxpulse:{rewind:" + group + "}" }

// requestLua increments the rewind count only when it is still ARGV[1],
// the request the asking partition last carried out: several partitions
// finding the same loss ask once. It returns the count.
const requestLua = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur == tonumber(ARGV[1]) then cur = redis.call('INCR', KEYS[1]) end
return cur`

// rewoundLua records, for the current claim only, that the partition
// carried out rewind request ARGV[2] and resumes at ARGV[3], expecting no
// tenant: 1 when recorded, 0 when a newer claim exists, -1 when the claim
// is gone.
const rewoundLua = `
local e = redis.call('HGET', KEYS[1], 'epoch')
if not e then return -1 end
if tonumber(e) ~= tonumber(ARGV[1]) then return 0 end
local all = redis.call('HKEYS', KEYS[1])
for _, f in ipairs(all) do
  if string.sub(f, 1, 2) == 't:' then redis.call('HDEL', KEYS[1], f) end
end
redis.call('HSET', KEYS[1], 'rw', ARGV[2], 'resume', ARGV[3])
return 1`

var (
	requestScript = redis.NewScript(requestLua)
	rewoundScript = redis.NewScript(rewoundLua)
)

// RequestRewind asks every partition of the group to rewind, unless a
// request newer than seen (the last one the asking partition carried out)
// exists already; it returns the current request.
func (c *Claims) RequestRewind(ctx context.Context, group string, seen int64) (int64, error) {
	n, err := requestScript.Run(ctx, c.rdb, []string{RewindKey(group)}, seen).Int64()
	if err != nil {
		return 0, fmt.Errorf("requesting a rewind of group %s: %w", group, err)
	}
	return n, nil
}

// GapKey names the rewind request whose rebuild accepted that the logs no
// longer reach back to what the windows and periods keep.
func GapKey(group string) string { return "cxpulse:{rewind:" + group + "}:gap" }

// AcceptGap records that rewind request id reads the logs from their
// start even where retention deleted what the periods would keep.
func (c *Claims) AcceptGap(ctx context.Context, group string, id int64) error {
	if err := c.rdb.Set(ctx, GapKey(group), id, 0).Err(); err != nil {
		return fmt.Errorf("accepting the gap of rewind %d: %w", id, err)
	}
	return nil
}

// GapAccepted reports whether rewind request id accepted a gap.
func (c *Claims) GapAccepted(ctx context.Context, group string, id int64) (bool, error) {
	n, err := c.rdb.Get(ctx, GapKey(group)).Int64()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the accepted gap of group %s: %w", group, err)
	}
	return n == id, nil
}

// Rewinds returns the group's latest rewind request (0: none).
func (c *Claims) Rewinds(ctx context.Context, group string) (int64, error) {
	n, err := c.rdb.Get(ctx, RewindKey(group)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the rewind requests of group %s: %w", group, err)
	}
	return n, nil
}

// Rewound records that a partition, under the claim of epoch, carried out
// rewind request id and resumes at resume with no tenant expected.
func (c *Claims) Rewound(ctx context.Context, group, partition string, epoch, id, resume int64) error {
	n, err := rewoundScript.Run(ctx, c.rdb, []string{Key(group, partition)}, epoch, id, resume).Int64()
	switch {
	case err != nil:
		return fmt.Errorf("recording the rewind of %s: %w", partition, err)
	case n == 0:
		return fmt.Errorf("recording the rewind of %s: a newer claim took it", partition)
	case n < 0:
		return fmt.Errorf("recording the rewind of %s: its claim is gone", partition)
	}
	return nil
}
