-- apply: one tenant's slice of one fetched batch.
-- KEYS: 1 watermarks, 2 ids (this period), 3 ids (previous period),
--       4 expiry zset, 5 dirty scopes, 6 scope set, 7 dead-letter outbox,
--       then per scope i: 6+2i counters hash, 7+2i view hash.
-- ARGV: 1 topic/partition, 2 epoch, 3 range start, 4 range end, 5 now ms,
--       6 dedupe horizon ms, 7 windows csv,
--       then nscopes and the scope names,
--       nids and (id, expected revision or '-') pairs,
--       nrecs and (id, record) pairs,
--       ndeltas and (scope number, window, bucket, leaves ms, counters),
--       nletters and the dead letters to publish.
-- Everything is checked before the first write.
local wm = KEYS[1]
local tp, epoch, start, stop = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local horizon = tonumber(ARGV[6])
local windows = splitcsv(ARGV[7])

local e = redis.call('HGET', wm, tp .. ':e')
if e and tonumber(e) > epoch then return {'fenced', e} end
local w = redis.call('HGET', wm, tp)
if w and start < tonumber(w) then return {'skip', w} end

local now = tonumber(ARGV[5])
local seen = tonumber(redis.call('HGET', wm, 'now') or '0')
if seen > now then now = seen end

local pos = 8
local nscopes = tonumber(ARGV[pos]); pos = pos + 1
local scopes, index = {}, {}
for i = 1, nscopes do scopes[i] = ARGV[pos]; index[ARGV[pos]] = i; pos = pos + 1 end

local function lookup(id)
  for k = 2, 3 do
    local rec = redis.call('HGET', KEYS[k], id)
    if rec then
      local _, _, rev, arrival = string.find(rec, '^([^|]*)|([^|]*)|')
      if tonumber(arrival) > now - horizon then return rec, rev end
    end
  end
  return nil, nil
end

local nids = tonumber(ARGV[pos]); pos = pos + 1
local conflicts = {}
for _ = 1, nids do
  local id, expect = ARGV[pos], ARGV[pos + 1]; pos = pos + 2
  local rec, rev = lookup(id)
  if (expect == '-' and rec) or (expect ~= '-' and rev ~= expect) then
    conflicts[#conflicts + 1] = id
    conflicts[#conflicts + 1] = rec or ''
  end
end
if #conflicts > 0 then
  table.insert(conflicts, 1, 'conflict')
  return conflicts
end

-- Writes from here on.
if now > seen then redis.call('HSET', wm, 'now', fmtint(now)) end
local touched = {}
local due = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now)
for _, m in ipairs(due) do
  local i = index[string.match(m, '^([^\t]*)\t')]
  if i then
    expire(KEYS[6 + 2 * i], m)
    redis.call('ZREM', KEYS[4], m)
    touched[i] = true
  end
end

local nrecs = tonumber(ARGV[pos]); pos = pos + 1
for _ = 1, nrecs do
  redis.call('HSET', KEYS[2], ARGV[pos], ARGV[pos + 1])
  redis.call('HDEL', KEYS[3], ARGV[pos])
  pos = pos + 2
end

local ndeltas = tonumber(ARGV[pos]); pos = pos + 1
for _ = 1, ndeltas do
  local i, wn, b, leaves, d = tonumber(ARGV[pos]), ARGV[pos + 1], ARGV[pos + 2], tonumber(ARGV[pos + 3]), ARGV[pos + 4]
  pos = pos + 5
  if leaves > now then
    local skey = KEYS[6 + 2 * i]
    local field = wn .. ':' .. b
    local old = redis.call('HGET', skey, field)
    local packed, zero = pack(add(parse(old), d, 1))
    if zero then redis.call('HDEL', skey, field) else redis.call('HSET', skey, field, packed) end
    if not old and not zero then redis.call('ZADD', KEYS[4], leaves, scopes[i] .. '\t' .. wn .. '\t' .. b) end
    local tot, tzero = pack(add(parse(redis.call('HGET', skey, wn .. ':t')), d, 1))
    if tzero then redis.call('HDEL', skey, wn .. ':t') else redis.call('HSET', skey, wn .. ':t', tot) end
    touched[i] = true
  end
end

local nletters = tonumber(ARGV[pos]); pos = pos + 1
for _ = 1, nletters do
  redis.call('RPUSH', KEYS[7], ARGV[pos])
  pos = pos + 1
end

for i in pairs(touched) do
  local seq = view(KEYS[6 + 2 * i], KEYS[7 + 2 * i], windows, now)
  redis.call('HSET', KEYS[5], scopes[i], seq)
  redis.call('SADD', KEYS[6], scopes[i])
end
redis.call('HSET', wm, tp, stop, tp .. ':e', epoch)
return {'ok'}
