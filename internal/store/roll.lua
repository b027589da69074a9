-- roll: rewrite the to-date periods of scopes once the tenant's local day
-- has changed (today, the week, month, quarter and year under way start
-- again at local midnights); the caller writes their views.
-- KEYS: 1 watermarks, 2 dirty scopes, 3 pending views, then per scope its
--       counters hash and its nslots year hashes.
-- ARGV: 1 now ms, 2 the instant (ms) the sums stop being current, 3 the
--       to-date sums (parsetodate), 4 nslots, 5 nscopes, then the names.
local now = tonumber(ARGV[1])
local seen = tonumber(redis.call('HGET', KEYS[1], 'now') or '0')
if seen > now then now = seen end
if now >= tonumber(ARGV[2]) then return {'period_moved', fmtint(now)} end
local spec, nslots, n = parsetodate(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local out, marks = {n}, {}
for i = 1, n do
  local name = ARGV[5 + i]
  local base = 3 + (i - 1) * (1 + nslots)
  local keys = {}
  for s = 1, nslots do keys[s] = KEYS[base + 1 + s] end
  local periods = todate(spec, keys)
  local version = redis.call('HINCRBY', KEYS[base + 1], 'v', 1)
  marks[#marks + 1] = name
  marks[#marks + 1] = version
  out[#out + 1] = name
  out[#out + 1] = version
  out[#out + 1] = 0
  out[#out + 1] = #periods
  emitperiods(out, periods)
end
hset(KEYS[2], marks)
hset(KEYS[3], marks)
return out
