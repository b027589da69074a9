-- roll: rewrite the to-date periods of scopes once the tenant's local day
-- has changed (today, the week, month, quarter and year under way start
-- again at local midnights); the caller writes their views.
-- KEYS: 1 watermarks, 2 dirty scopes, 3 pending views, then per scope its
--       counters hash, its active customers zset and its nslots year
--       hashes.
-- ARGV: 1 now ms, 2 the instant (ms) the sums stop being current, 3 the
--       to-date sums (parsetodate), 4 nslots, 5 windows csv, 6 nscopes,
--       then the names.
--@section check
local now = tonumber(ARGV[1])
local seen = tonumber(redis.call('HGET', KEYS[1], 'now') or '0')
if seen > now then now = seen end
if now >= tonumber(ARGV[2]) then return {'period_moved', fmtint(now)} end
local nslots, n = tonumber(ARGV[4]), tonumber(ARGV[6])
local names, skeys, akeys, pkeys = {}, {}, {}, {}
for i = 1, n do
  names[i] = ARGV[6 + i]
  local base = 3 + (i - 1) * (2 + nslots)
  skeys[i], akeys[i], pkeys[i] = KEYS[base + 1], KEYS[base + 2], {}
  for s = 1, nslots do pkeys[i][s] = KEYS[base + 2 + s] end
  entry(acc, order, i)
end
-- A scope whose view is still pending gets its windows too (see flush).
--@section flush
local views = flush(skeys, akeys, names, KEYS[2], KEYS[3], parsewindows(ARGV[5]), now, parsetodate(ARGV[3]), pkeys, true)
--@section end
return views
