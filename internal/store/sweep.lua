-- sweep: drop the buckets that left their window by now from the totals of
-- their scope; the caller rewrites those scopes' views.
-- KEYS: 1 watermarks, 2 expiry zset, 3 dirty scopes, 4 pending views,
--       then per scope i: 3+2i counters hash, 4+2i active customers zset;
--       then per scope its nslots year hashes of periods.
-- ARGV: 1 now ms, 2 windows csv, 3 the to-date sums (parsetodate),
--       4 nslots, 5 the instant (ms) the to-date sums stop being current
--       (0: never), 6 nscopes, the scope names, then the expiry members
--       to process (each is checked again here).
--@section expire
local now = tonumber(ARGV[1])
local seen = tonumber(redis.call('HGET', KEYS[1], 'now') or '0')
if seen > now then now = seen end
local untilms = tonumber(ARGV[5])
if untilms > 0 and now >= untilms then return {'period_moved', fmtint(now)} end
if now > seen then redis.call('HSET', KEYS[1], 'now', fmtint(now)) end
local nslots, nscopes = tonumber(ARGV[4]), tonumber(ARGV[6])
local names, index, skeys, akeys, pkeys = {}, {}, {}, {}, {}
for i = 1, nscopes do
  names[i] = ARGV[6 + i]; index[ARGV[6 + i]] = i
  skeys[i] = KEYS[3 + 2 * i]
  akeys[i] = KEYS[4 + 2 * i]
  pkeys[i] = {}
  for s = 1, nslots do pkeys[i][s] = KEYS[4 + 2 * nscopes + (i - 1) * nslots + s] end
end
local n = 0
for p = 7 + nscopes, #ARGV do
  local m = ARGV[p]
  local score = redis.call('ZSCORE', KEYS[2], m)
  local i = index[string.match(m, '^([^\t]*)\t')]
  if score and tonumber(score) <= now and i then
    expire(i, skeys[i], m)
    redis.call('ZREM', KEYS[2], m)
    n = n + 1
  end
end
--@section flush
local views = flush(skeys, akeys, names, KEYS[3], KEYS[4], parsewindows(ARGV[2]), now, parsetodate(ARGV[3]), pkeys, false)
--@section end
table.insert(views, 1, n)
return views
