package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/store/keys"
)

// samplesSweepEvery is how often a tenant's comment samples are looked at
// for comment text older than its comment_retention.
const samplesSweepEvery = 10 * time.Minute

// samplesChunk is how many scopes one call of the samples script looks at.
const samplesChunk = 200

// dropOldSamplesLua keeps, in each samples list of KEYS, the samples that
// occurred at or after ARGV[1] (unix ms), in their order; it returns how
// many it dropped.
const dropOldSamplesLua = `
local cutoff, dropped = tonumber(ARGV[1]), 0
for _, key in ipairs(KEYS) do
  local items = redis.call('LRANGE', key, 0, -1)
  local kept = {}
  for _, it in ipairs(items) do
    local ok, s = pcall(cjson.decode, it)
    if ok and type(s) == 'table' and tonumber(s.at) and tonumber(s.at) >= cutoff then kept[#kept + 1] = it end
  end
  if #kept < #items then
    dropped = dropped + #items - #kept
    redis.call('DEL', key)
    if #kept > 0 then redis.call('RPUSH', key, unpack(kept)) end
  end
end
return dropped`

var dropOldSamples = redis.NewScript(dropOldSamplesLua)

// SweepSamples drops, at most every samplesSweepEvery, the comment samples
// of a tenant that occurred more than retention before now (the tenant's
// comment_retention; 0 keeps them until newer ones replace them). It
// returns how many it dropped.
func (s *Store) SweepSamples(ctx context.Context, tenant string, now time.Time, retention time.Duration) (int64, error) {
	if retention <= 0 {
		return 0, nil
	}
	last, err := s.rdb.HGet(ctx, keys.Watermarks(tenant), "samples:swept").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("reading the samples sweep mark of %s: %w", tenant, err)
	}
	if ms, err := strconv.ParseInt(last, 10, 64); err == nil && now.UnixMilli()-ms < samplesSweepEvery.Milliseconds() {
		return 0, nil
	}
	scopes, err := s.Scopes(ctx, tenant)
	if err != nil {
		return 0, err
	}
	cutoff := now.Add(-retention).UnixMilli()
	var dropped int64
	for len(scopes) > 0 {
		chunk := scopes[:min(samplesChunk, len(scopes))]
		scopes = scopes[len(chunk):]
		ks := make([]string, len(chunk))
		for i, sc := range chunk {
			ks[i] = keys.Samples(tenant, sc)
		}
		n, err := dropOldSamples.Run(ctx, s.rdb, ks, cutoff).Int64()
		if err != nil {
			return dropped, fmt.Errorf("dropping old comment samples of %s: %w", tenant, err)
		}
		dropped += n
	}
	if err := s.rdb.HSet(ctx, keys.Watermarks(tenant), "samples:swept", now.UnixMilli()).Err(); err != nil {
		return dropped, fmt.Errorf("marking the samples of %s swept: %w", tenant, err)
	}
	return dropped, nil
}

// Samples returns the recent detractor comments of a scope, newest first.
func (s *Store) Samples(ctx context.Context, tenant, scope string) ([]Sample, error) {
	raw, err := s.rdb.LRange(ctx, keys.Samples(tenant, scope), 0, SamplesKept-1).Result()
	if err != nil {
		return nil, fmt.Errorf("reading comment samples of %s %s: %w", tenant, scope, err)
	}
	out := make([]Sample, 0, len(raw))
	for _, r := range raw {
		var smp Sample
		if err := json.Unmarshal([]byte(r), &smp); err != nil {
			return nil, fmt.Errorf("comment sample of %s %s: %w", tenant, scope, err)
		}
		out = append(out, smp)
	}
	return out, nil
}
