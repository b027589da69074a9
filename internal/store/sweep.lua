-- sweep: drop the buckets that left their window by now from the totals of
-- their scope; the caller rewrites those scopes' views.
-- KEYS: 1 watermarks, 2 expiry zset, 3 dirty scopes, 4 pending views,
--       then per scope i: 3+2i counters hash, 4+2i active customers zset.
-- ARGV: 1 now ms, 2 windows csv, 3 nscopes, the scope names,
--       then the expiry members to process (each is checked again here).
local now = tonumber(ARGV[1])
local seen = tonumber(redis.call('HGET', KEYS[1], 'now') or '0')
if seen > now then now = seen else redis.call('HSET', KEYS[1], 'now', fmtint(now)) end
local nscopes = tonumber(ARGV[3])
local names, index, skeys, akeys = {}, {}, {}, {}
for i = 1, nscopes do
  names[i] = ARGV[3 + i]; index[ARGV[3 + i]] = i
  skeys[i] = KEYS[3 + 2 * i]
  akeys[i] = KEYS[4 + 2 * i]
end
local n = 0
for p = 4 + nscopes, #ARGV do
  local m = ARGV[p]
  local score = redis.call('ZSCORE', KEYS[2], m)
  local i = index[string.match(m, '^([^\t]*)\t')]
  if score and tonumber(score) <= now and i then
    expire(i, skeys[i], m)
    redis.call('ZREM', KEYS[2], m)
    n = n + 1
  end
end
local views = flush(skeys, akeys, names, KEYS[3], KEYS[4], parsewindows(ARGV[2]), now, nil, nil)
table.insert(views, 1, n)
return views
