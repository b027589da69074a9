package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// admitLua admits dimension values into a tenant's set until the cap is
// reached; a value's answer never changes once given, since the set only
// grows.
const admitLua = `
local cap = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV do
  local v = ARGV[i]
  if redis.call('SISMEMBER', KEYS[1], v) == 1 then
    out[#out + 1] = 1
  elseif redis.call('SCARD', KEYS[1]) < cap then
    redis.call('SADD', KEYS[1], v)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out`

// commitLua records a partition's resume offset unless a newer claim exists.
const commitLua = `
local e = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
if e ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'resume', ARGV[2])
return 1`

// undirtyLua clears dirty scopes whose seq did not move since publishing.
const undirtyLua = `
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 0`

// ErrFenced means a newer claim owns the partition.
var ErrFenced = errors.New("partition claimed by a newer consumer")

func claimKey(group, partition string) string {
	return prefix + "{p:" + group + ":" + partition + "}"
}

// Claim takes a partition for a consumer: it returns a new epoch, higher
// than every earlier claim's, and the offset to resume from (found is false
// for a partition nothing was applied from yet).
func (s *Store) Claim(ctx context.Context, group, partition string) (epoch, resume int64, found bool, err error) {
	key := claimKey(group, partition)
	var inc *redis.IntCmd
	var get *redis.StringCmd
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
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
func (s *Store) Commit(ctx context.Context, group, partition string, epoch, offset int64) error {
	ok, err := s.commit.Run(ctx, s.rdb, []string{claimKey(group, partition)}, epoch, offset).Int()
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
func (s *Store) CommitMany(ctx context.Context, group string, commits []Range) (fenced string, err error) {
	cmds := make([]*redis.Cmd, len(commits))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range commits {
			cmds[i] = s.commit.EvalSha(ctx, p, []string{claimKey(group, c.Partition)}, c.Epoch, c.End)
		}
		return nil
	})
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		for _, c := range commits {
			if err := s.Commit(ctx, group, c.Partition, c.Epoch, c.End); err != nil {
				if errors.Is(err, ErrFenced) {
					return c.Partition, nil
				}
				return "", err
			}
		}
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("recording resume offsets: %w", err)
	}
	for i, c := range cmds {
		if ok, _ := c.Int(); ok == 0 {
			return commits[i].Partition, nil
		}
	}
	return "", nil
}

// ResumeOffsets returns the recorded resume offset of each partition that
// has one.
func (s *Store) ResumeOffsets(ctx context.Context, group string, partitions []string) (map[string]int64, error) {
	cmds := make([]*redis.StringCmd, len(partitions))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, part := range partitions {
			cmds[i] = p.HGet(ctx, claimKey(group, part), "resume")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading resume offsets: %w", err)
	}
	out := map[string]int64{}
	for i, c := range cmds {
		if v, err := strconv.ParseInt(c.Val(), 10, 64); err == nil {
			out[partitions[i]] = v
		}
	}
	return out, nil
}

// Admit decides for each value of dimension dim whether it gets its own
// scope (true) or goes to <dim>=__other__ because the tenant already has
// limit values of dim.
func (s *Store) Admit(ctx context.Context, tenant, dim string, values []string, limit int) ([]bool, error) {
	args := make([]any, 0, len(values)+1)
	args = append(args, limit)
	for _, v := range values {
		args = append(args, v)
	}
	res, err := s.admit.Run(ctx, s.rdb, []string{dimKey(tenant, dim)}, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("admitting %s values of tenant %s: %w", dim, tenant, err)
	}
	out := make([]bool, len(res))
	for i, v := range res {
		out[i] = v == 1
	}
	return out, nil
}

// AddTenant records a tenant in the set the sweeper and publisher walk.
func (s *Store) AddTenant(ctx context.Context, tenant string) error {
	return s.rdb.SAdd(ctx, TenantsKey, tenant).Err()
}

// Tenants lists the tenants seen.
func (s *Store) Tenants(ctx context.Context) ([]string, error) {
	return s.rdb.SMembers(ctx, TenantsKey).Result()
}

// Dirty returns the scopes of a tenant changed since last published, with
// their seq.
func (s *Store) Dirty(ctx context.Context, tenant string) (map[string]string, error) {
	return s.rdb.HGetAll(ctx, dirtyKey(tenant)).Result()
}

// Undirty clears published scopes whose seq has not moved since.
func (s *Store) Undirty(ctx context.Context, tenant string, published map[string]string) error {
	if len(published) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(published))
	for sc, seq := range published {
		args = append(args, sc, seq)
	}
	return s.undirty.Run(ctx, s.rdb, []string{dirtyKey(tenant)}, args...).Err()
}

// Scopes lists the scopes a tenant has data in.
func (s *Store) Scopes(ctx context.Context, tenant string) ([]string, error) {
	return s.rdb.SMembers(ctx, ScopesKey(tenant)).Result()
}
