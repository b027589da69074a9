// Package claims records in Redis which consumer owns each input
// partition and how far the group has applied it. A claim takes a new
// epoch, higher than every earlier one, with which the apply script fences
// older claims; a commit records, for the current claim only, the resume
// offset and, per tenant of the batch, how far that tenant was applied, so
// that a tenant's state found behind it is known to be lost. What is
// applied is left to the pipeline and the store.
package claims

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// commitLua records a partition's resume offset and the tenants of the
// batch, for the current claim: 1 when recorded, 0 when a newer claim
// exists, -1 when the claim is gone (Redis lost its state).
const commitLua = `
local e = redis.call('HGET', KEYS[1], 'epoch')
if not e then return -1 end
if tonumber(e) ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'resume', ARGV[2])
for i = 3, #ARGV, 500 do
  local set = {}
  for j = i, math.min(i + 499, #ARGV) do
    set[#set + 1] = 't:' .. ARGV[j]
    set[#set + 1] = ARGV[2]
  end
  redis.call('HSET', KEYS[1], unpack(set))
end
return 1`

// Claims reads and writes partition claims.
type Claims struct {
	rdb    redis.UniversalClient
	commit *redis.Script
}

// New returns Claims over rdb.
func New(rdb redis.UniversalClient) *Claims {
	return &Claims{rdb: rdb, commit: redis.NewScript(commitLua)}
}

// Key is the hash of a partition's claim: its epoch, resume offset and
// per tenant ("t:<tenant>") the end of the last batch that tenant was
// applied in. It is no tenant's key (a partition carries many tenants).
func Key(group, partition string) string {
	return "cxpulse:{p:" + group + ":" + partition + "}"
}

// Claim is a consumer's hold on a partition.
type Claim struct {
	Epoch int64
	// Resume is the next offset to apply; Found is false when nothing was
	// applied from the partition yet.
	Resume int64
	Found  bool
	// Tenants holds, per tenant with messages in the partition, the end of
	// the last batch it was applied in: its watermark for the partition is
	// at least that, or its state was lost.
	Tenants map[string]int64
	// Rewind is the last rewind request the partition carried out (see
	// RequestRewind).
	Rewind int64
}

// Offset is a partition's resume offset under one claim, with the tenants
// of the batch that ends there.
type Offset struct {
	Partition string // topic/partition
	Epoch     int64
	End       int64 // the next offset to apply
	Tenants   []string
}

// Take claims a partition for a consumer: a new epoch, higher than every
// earlier claim's, and what the claim records.
func (c *Claims) Take(ctx context.Context, group, partition string) (Claim, error) {
	key := Key(group, partition)
	var inc *redis.IntCmd
	var all *redis.MapStringStringCmd
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		inc = p.HIncrBy(ctx, key, "epoch", 1)
		all = p.HGetAll(ctx, key)
		return nil
	})
	if err != nil {
		return Claim{}, fmt.Errorf("claiming %s: %w", partition, err)
	}
	cl := Claim{Epoch: inc.Val(), Tenants: map[string]int64{}}
	for k, v := range all.Val() {
		switch tenant, ok := strings.CutPrefix(k, "t:"); {
		case ok:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return Claim{}, fmt.Errorf("claim of %s: %s is %q", partition, k, v)
			}
			cl.Tenants[tenant] = n
		case k == "resume":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return Claim{}, fmt.Errorf("claim of %s: resume is %q", partition, v)
			}
			cl.Resume, cl.Found = n, true
		case k == "rw":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return Claim{}, fmt.Errorf("claim of %s: rw is %q", partition, v)
			}
			cl.Rewind = n
		}
	}
	return cl, nil
}

// Peek reads a partition's claim without taking it: its epoch (0 when
// none) and resume offset, not the tenants' ends.
func (c *Claims) Peek(ctx context.Context, group, partition string) (Claim, error) {
	vals, err := c.rdb.HMGet(ctx, Key(group, partition), "epoch", "resume").Result()
	if err != nil {
		return Claim{}, fmt.Errorf("reading the claim of %s: %w", partition, err)
	}
	var cl Claim
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Claim{}, fmt.Errorf("claim of %s: %s is %q", partition, []string{"epoch", "resume"}[i], s)
		}
		if i == 0 {
			cl.Epoch = n
		} else {
			cl.Resume, cl.Found = n, true
		}
	}
	return cl, nil
}

// Outcome is what a commit found.
type Outcome struct {
	// Fenced is a partition whose claim a newer one superseded.
	Fenced string
	// Lost is a partition whose claim is gone from Redis.
	Lost string
}

// CommitMany records several partitions' resume offsets in one round
// trip. It reports the first partition whose claim was superseded or gone.
func (c *Claims) CommitMany(ctx context.Context, group string, commits []Offset) (Outcome, error) {
	args := func(o Offset) []any {
		a := make([]any, 0, 2+len(o.Tenants))
		a = append(a, o.Epoch, o.End)
		for _, t := range o.Tenants {
			a = append(a, t)
		}
		return a
	}
	cmds := make([]*redis.Cmd, len(commits))
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, o := range commits {
			cmds[i] = c.commit.EvalSha(ctx, p, []string{Key(group, o.Partition)}, args(o)...)
		}
		return nil
	})
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		for i, o := range commits {
			cmds[i] = c.commit.Run(ctx, c.rdb, []string{Key(group, o.Partition)}, args(o)...)
		}
		err = nil
		for _, cmd := range cmds {
			err = errors.Join(err, cmd.Err())
		}
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("recording resume offsets: %w", err)
	}
	for i, cmd := range cmds {
		switch n, _ := cmd.Int(); n {
		case 0:
			return Outcome{Fenced: commits[i].Partition}, nil
		case -1:
			return Outcome{Lost: commits[i].Partition}, nil
		}
	}
	return Outcome{}, nil
}

// ResumeOffsets returns the recorded resume offset of each partition that
// has one.
func (c *Claims) ResumeOffsets(ctx context.Context, group string, partitions []string) (map[string]int64, error) {
	cmds := make([]*redis.StringCmd, len(partitions))
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, part := range partitions {
			cmds[i] = p.HGet(ctx, Key(group, part), "resume")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading resume offsets: %w", err)
	}
	out := map[string]int64{}
	for i, cmd := range cmds {
		if v, err := strconv.ParseInt(cmd.Val(), 10, 64); err == nil {
			out[partitions[i]] = v
		}
	}
	return out, nil
}
