-- writeview: write the views computed by the caller, unless a newer
-- version of a scope's view is already there.
-- KEYS: 1 pending views, then per scope i: 1+i view hash.
-- ARGV: 1 now ms, 2 nscopes, then per scope: name, version, nset and the
--       field/value pairs, ndel and the fields to delete.
local pos = 3
for i = 1, tonumber(ARGV[2]) do
  local vkey = KEYS[1 + i]
  local name, version = ARGV[pos], tonumber(ARGV[pos + 1])
  local nset = tonumber(ARGV[pos + 2])
  local from = pos + 3
  pos = from + 2 * nset
  local ndel = tonumber(ARGV[pos])
  local dfrom = pos + 1
  pos = dfrom + ndel
  local cur = tonumber(redis.call('HGET', vkey, 'seq') or '0')
  if version > cur then
    local set = {'seq', version, 'updated_at', ARGV[1]}
    for k = from, from + 2 * nset - 1 do set[#set + 1] = ARGV[k] end
    hset(vkey, set)
    if ndel > 0 then
      local del = {}
      for k = dfrom, dfrom + ndel - 1 do del[#del + 1] = ARGV[k] end
      hdel(vkey, del)
    end
  end
  if tonumber(redis.call('HGET', KEYS[1], name) or '-1') <= version then
    redis.call('HDEL', KEYS[1], name)
  end
end
return 0
