// Package claims records in Redis which consumer owns each input
// partition and how far the group has applied it. A claim takes a new
// epoch, higher than every earlier one, with which the apply script fences
// older claims; a commit records the resume offset, and only for the
// current claim. What is applied is left to the pipeline and the store.
package claims

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// commitLua records a partition's resume offset unless a newer claim exists.
const commitLua = `
local e = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
if e ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'resume', ARGV[2])
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

// key holds a partition's claim epoch and resume offset; it is no
// tenant's key (a partition carries many tenants).
func claimKey(group, partition string) string {
	return "cxpulse:{p:" + group + ":" + partition + "}"
}

// Offset is a partition's resume offset under one claim.
type Offset struct {
	Partition string // topic/partition
	Epoch     int64
	End       int64 // the next offset to apply
}

// ErrFenced means a newer claim owns the partition.
var ErrFenced = errors.New("partition claimed by a newer consumer")

// Claim takes a partition for a consumer: it returns a new epoch, higher
// than every earlier claim's, and the offset to resume from (found is false
// for a partition nothing was applied from yet).
func (c *Claims) Claim(ctx context.Context, group, partition string) (epoch, resume int64, found bool, err error) {
	key := claimKey(group, partition)
	var inc *redis.IntCmd
	var get *redis.StringCmd
	_, err = c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		inc = p.HIncrBy(ctx, key, "epoch", 1)
		get = p.HGet(ctx, key, "resume")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, 0, false, fmt.Errorf("claiming %s: %w", partition, err)
	}
	resume, perr := get.Int64()
	return inc.Val(), resume, perr == nil, nil
}

// Commit records that everything before offset is applied, for the claim
// with epoch. It returns ErrFenced when a newer claim exists.
func (c *Claims) Commit(ctx context.Context, group, partition string, epoch, offset int64) error {
	ok, err := c.commit.Run(ctx, c.rdb, []string{claimKey(group, partition)}, epoch, offset).Int()
	if err != nil {
		return fmt.Errorf("recording resume offset of %s: %w", partition, err)
	}
	if ok == 0 {
		return ErrFenced
	}
	return nil
}

// CommitMany records several partitions' resume offsets in one round trip.
// It returns the first partition whose claim was superseded, if any.
func (c *Claims) CommitMany(ctx context.Context, group string, commits []Offset) (fenced string, err error) {
	cmds := make([]*redis.Cmd, len(commits))
	_, err = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, o := range commits {
			cmds[i] = c.commit.EvalSha(ctx, p, []string{claimKey(group, o.Partition)}, o.Epoch, o.End)
		}
		return nil
	})
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		for _, o := range commits {
			if err := c.Commit(ctx, group, o.Partition, o.Epoch, o.End); err != nil {
				if errors.Is(err, ErrFenced) {
					return o.Partition, nil
				}
				return "", err
			}
		}
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("recording resume offsets: %w", err)
	}
	for i, cmd := range cmds {
		if ok, _ := cmd.Int(); ok == 0 {
			return commits[i].Partition, nil
		}
	}
	return "", nil
}

// ResumeOffsets returns the recorded resume offset of each partition that
// has one.
func (c *Claims) ResumeOffsets(ctx context.Context, group string, partitions []string) (map[string]int64, error) {
	cmds := make([]*redis.StringCmd, len(partitions))
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, part := range partitions {
			cmds[i] = p.HGet(ctx, claimKey(group, part), "resume")
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
