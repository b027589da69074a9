-- writeview: write the views computed by the caller, unless a newer
-- version of a scope's view is already there, or the scope's counters no
-- longer reach that version (the tenant was dropped for a rebuild since:
-- the view would be stale).
-- KEYS: 1 pending views, then per scope i: 2i view hash, 2i+1 counters.
-- ARGV: 1 now ms, 2 nscopes, 3 the writer's name, then per scope: name,
--       version, base (the version the fields are a change to, or -1 for
--       a full write), nset and the field/value pairs, ndel and the fields
--       to delete.
-- Returns per scope 1 when written, 0 when a newer version is there, -1
-- when the view is no longer this writer's write at base (the caller
-- writes it in full). The counters hash's field vw names the last write
-- (writer:version): versions start again after a rebuild, so a version
-- alone does not say whose write the view holds.
--@section write
local writer = ARGV[3]
local pos = 4
local out = {}
for i = 1, tonumber(ARGV[2]) do
  local vkey, ckey = KEYS[2 * i], KEYS[2 * i + 1]
  local name, version, base = ARGV[pos], tonumber(ARGV[pos + 1]), tonumber(ARGV[pos + 2])
  local nset = tonumber(ARGV[pos + 3])
  local from = pos + 4
  pos = from + 2 * nset
  local ndel = tonumber(ARGV[pos])
  local dfrom = pos + 1
  pos = dfrom + ndel
  local cur = tonumber(redis.call('HGET', vkey, 'seq') or '0')
  local counted = redis.call('HMGET', ckey, 'v', 'vw')
  if version <= cur or tonumber(counted[1] or '0') < version then
    out[i] = 0
  elseif base >= 0 and (cur ~= base or counted[2] ~= writer .. ':' .. base) then
    out[i] = -1
  else
    redis.call('HSET', ckey, 'vw', writer .. ':' .. version)
    local set = {'seq', version, 'updated_at', ARGV[1]}
    for k = from, from + 2 * nset - 1 do set[#set + 1] = ARGV[k] end
    hset(vkey, set)
    if ndel > 0 then
      local del = {}
      for k = dfrom, dfrom + ndel - 1 do del[#del + 1] = ARGV[k] end
      hdel(vkey, del)
    end
    out[i] = 1
  end
  if out[i] >= 0 and tonumber(redis.call('HGET', KEYS[1], name) or '-1') <= version then
    redis.call('HDEL', KEYS[1], name)
  end
end
--@section end
return out
