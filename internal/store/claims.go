package store

import (
	"context"
	"fmt"
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

// undirtyLua clears dirty scopes whose seq did not move since publishing.
const undirtyLua = `
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 0`

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
