-- Shared functions of the cxpulse scripts. Each script is this file plus
-- its own body; every key a script touches carries the tenant's hash tag.

-- NC (counters per bucket) and SAMPLES_KEPT are declared by the Go side
-- (luaConstants in store.go), so they cannot drift from it.
local CHUNK = 500 -- arguments per unpack, well below Lua's limit

-- Counters are Lua tables indexed 1..NC; missing entries are 0.

-- Packed counters are a MessagePack array (trailing zeros dropped), so the
-- scripts read and write them in C (cmsgpack) rather than in Lua string
-- loops; mp is cmsgpack, or msgpack.lua where a server has none.
local function parse(s)
  if s then return mp.unpack(s) end
  return {}
end


local function fmtint(x)
  if x > -1e14 and x < 1e14 then return tostring(x) end
  return string.format('%d', x)
end

-- pack writes counters as a MessagePack array, trailing zeros dropped;
-- zero is true when every counter is 0. t may have holes (missing
-- counters are 0); it is filled and trimmed in place.
local function pack(t)
  local n = 0
  for i = NC, 1, -1 do
    local v = t[i]
    if v and v ~= 0 then
      n = i
      break
    end
  end
  if n == 0 then return '', true end
  for i = 1, n do
    if not t[i] then t[i] = 0 end
  end
  for i = n + 1, NC do t[i] = nil end
  return mp.pack(t), false
end

-- add adds counters d (as parse returns them, or a table holding only
-- the changed counters) times sign to t.
local function add(t, d, sign)
  for i, v in pairs(d) do
    if v ~= 0 then t[i] = (t[i] or 0) + sign * v end
  end
end

-- Calls work in chunks so that unpack never sees too many values.
local function hmget(key, fields)
  local out = {}
  for i = 1, #fields, CHUNK do
    local part = redis.call('HMGET', key, unpack(fields, i, math.min(i + CHUNK - 1, #fields)))
    for j = 1, #part do out[#out + 1] = part[j] end
  end
  return out
end

-- many runs cmd on key with args, n arguments per item (kept together),
-- in chunks; nothing when args is empty. It returns the sum of the
-- replies (what HDEL, ZREM and the like counted).
local function many(cmd, key, args, n)
  local step, sum = CHUNK * n, 0
  for i = 1, #args, step do
    sum = sum + redis.call(cmd, key, unpack(args, i, math.min(i + step - 1, #args)))
  end
  return sum
end

local function hset(key, pairs_) return many('HSET', key, pairs_, 2) end
local function hdel(key, fields) return many('HDEL', key, fields, 1) end

-- Totals: changes to each scope's window totals are accumulated in Lua and
-- written once per scope and window.
local acc = {}    -- acc[scope number][window] = counters to add
local order = {}  -- scope numbers in first-touched order

-- entry returns t[k], creating it (and noting k in keys) when missing.
local function entry(t, keys, k)
  local v = t[k]
  if not v then
    v = {}
    t[k] = v
    keys[#keys + 1] = k
  end
  return v
end

local function accumulate(i, w, d, sign)
  local s = entry(acc, order, i)
  local t = s[w]
  if not t then
    t = {}
    s[w] = t
  end
  add(t, d, sign)
end

-- parsetodate reads how the to-date periods are summed (store/periods.go,
-- toDate.blob): per alias its name and its (year slot, field) pairs.
local function parsetodate(s)
  local A = mp.unpack(s)
  local spec, k = {}, 2
  for a = 1, A[1] do
    local name, n = A[k], A[k + 1]
    k = k + 2
    local fs = {}
    for j = 1, n do
      fs[j] = {A[k], A[k + 1]}
      k = k + 2
    end
    spec[a] = {name = name, fields = fs}
  end
  return spec
end

-- todate sums one scope's to-date periods from its year hashes (keys, by
-- slot): each bucket read once, however many periods hold it. Returns per
-- alias {name, packed sum}.
local function todate(spec, keys)
  local want = {}
  for s = 1, #keys do want[s] = {list = {}, at = {}} end
  for _, a in ipairs(spec) do
    for _, f in ipairs(a.fields) do
      local w = want[f[1]]
      if not w.at[f[2]] then
        w.list[#w.list + 1] = f[2]
        w.at[f[2]] = #w.list
      end
    end
  end
  local parsed = {}
  for s = 1, #keys do
    parsed[s] = {}
    if #want[s].list > 0 then
      local got = hmget(keys[s], want[s].list)
      for j = 1, #want[s].list do
        if got[j] then parsed[s][j] = parse(got[j]) end
      end
    end
  end
  local out = {}
  for _, a in ipairs(spec) do
    local t = {}
    for _, f in ipairs(a.fields) do
      local b = parsed[f[1]][want[f[1]].at[f[2]]]
      if b then add(t, b, 1) end
    end
    out[#out + 1] = {a.name, (pack(t))}
  end
  return out
end

-- emitperiods appends the to-date sums todate returned to a script's
-- answer, as windows with 0 retained.
local function emitperiods(out, periods)
  for _, p in ipairs(periods) do
    out[#out + 1] = p[1]
    out[#out + 1] = p[2]
    out[#out + 1] = 0
  end
end

-- touched holds the scope numbers whose set of active customers changed:
-- customers_active is part of every window, so all of them are rewritten.
local touched = {}

-- flush writes the accumulated totals of every touched scope, bumps the
-- scope's version, marks it dirty (for cx.scores) and its view pending,
-- and returns per scope: name, version, active customers, the number of
-- windows and, per window, its name, new packed totals and the customers
-- retained through it (active in a spell that began before the window's
-- first bucket). A scope seen for the first time returns every window, so
-- its view gets every count (as 0); so does a scope whose view is still
-- pending from an earlier call (its writer died, or has not written it
-- yet), so that this view write carries that call's changes too: a view
-- write is kept only when no newer version is there, so a newer write
-- must hold every section an older one still pending may change. With
-- tdspec (see parsetodate), the to-date periods follow the windows (for
-- every scope with everyperiod, else for those returning every window),
-- summed from the year hashes pkeys[i], with 0 retained. The caller
-- writes the views.
local function flush(skeys, akeys, names, dirty, pending, windows, now, tdspec, pkeys, everyperiod)
  local out, marks = {#order}, {}
  local scopeNames = {}
  for k, i in ipairs(order) do scopeNames[k] = names[i] end
  local behind = {}
  if #scopeNames > 0 then behind = hmget(pending, scopeNames) end
  for k, i in ipairs(order) do
    --@section totals
    local all = touched[i] or behind[k] or redis.call('HEXISTS', skeys[i], 'v') == 0
    local fields, ws = {}, {}
    for _, w in ipairs(windows) do
      if acc[i][w.name] or all then
        ws[#ws + 1] = w
        fields[#fields + 1] = w.name .. ':t'
      end
    end
    local old = hmget(skeys[i], fields)
    local set, del, packs = {}, {}, {}
    for j, w in ipairs(ws) do
      local d = acc[i][w.name]
      if d then
        local t = parse(old[j] or nil)
        add(t, d, 1)
        local packed, zero = pack(t)
        if zero then del[#del + 1] = fields[j] else set[#set + 1] = fields[j]; set[#set + 1] = packed end
        packs[j] = packed
      else
        -- Unchanged (returned because the active customers moved).
        packs[j] = old[j] or ''
      end
    end
    if #set > 0 then hset(skeys[i], set) end
    if #del > 0 then hdel(skeys[i], del) end
    local version = redis.call('HINCRBY', skeys[i], 'v', 1)
    marks[#marks + 1] = names[i]
    marks[#marks + 1] = version
    local active = redis.call('ZCARD', akeys[i])
    --@section todate
    local periods = {}
    if tdspec and (everyperiod or all) then periods = todate(tdspec, pkeys[i]) end
    out[#out + 1] = names[i]
    out[#out + 1] = version
    out[#out + 1] = active
    out[#out + 1] = #ws + #periods
    for j, w in ipairs(ws) do
      out[#out + 1] = w.name
      out[#out + 1] = packs[j]
      local retained = 0
      if active > 0 then
        -- Spells whose activation bucket starts at or before now - length.
        local first = math.floor((now - w.len) / w.bucket) + 1
        retained = redis.call('ZCOUNT', akeys[i], '-inf', '(' .. fmtint(first * w.bucket))
      end
      out[#out + 1] = retained
    end
    emitperiods(out, periods)
  end
  --@section marks
  hset(dirty, marks)
  hset(pending, marks)
  return out
end

-- expire removes bucket member (scope \t window \t index) of scope number i
-- and takes its counters off the window's totals.
local function expire(i, skey, member)
  local _, _, w, idx = string.find(member, '^[^\t]*\t([^\t]*)\t([^\t]*)$')
  local field = w .. ':' .. idx
  local b = redis.call('HGET', skey, field)
  if b then
    accumulate(i, w, parse(b), -1)
    redis.call('HDEL', skey, field)
  end
end

-- parsewindows reads the windows argument: name:length ms:bucket ms, comma
-- separated.
local function parsewindows(s)
  local t = {}
  for name, len, b in string.gmatch(s, '([^,:]+):(%d+):(%d+)') do
    t[#t + 1] = {name = name, len = tonumber(len), bucket = tonumber(b)}
  end
  return t
end
