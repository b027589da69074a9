-- Shared functions of the cxpulse scripts. Each script is this file plus
-- its own body; every key a script touches carries the tenant's hash tag.

local NC = 20 -- counters per bucket, in the order of store.Counter
local CHUNK = 500 -- arguments per unpack, well below Lua's limit

-- Counters are Lua tables indexed 1..NC; missing entries are 0.

-- Packed counters are a MessagePack array (trailing zeros dropped), so the
-- scripts read and write them in C rather than in Lua string loops.
local function parse(s)
  if s then return cmsgpack.unpack(s) end
  return {}
end


local function fmtint(x)
  if x > -1e14 and x < 1e14 then return tostring(x) end
  return string.format('%d', x)
end

-- pack writes counters as a MessagePack array, trailing zeros dropped;
-- zero is true when every counter is 0.
local function pack(t)
  local n = 0
  for i = NC, 1, -1 do
    local v = t[i]
    if v and v ~= 0 then n = i; break end
  end
  if n == 0 then return '', true end
  local out = {}
  for i = 1, n do out[i] = t[i] or 0 end
  return cmsgpack.pack(out), false
end

-- shortest decimal that reads back as the same double
local function fmtnum(x)
  if x == math.floor(x) and x > -1e14 and x < 1e14 then return tostring(x) end
  for p = 15, 16 do
    local s = string.format('%.' .. p .. 'g', x)
    if tonumber(s) == x then return s end
  end
  return string.format('%.17g', x)
end

-- add adds counters d (as parse returns them) times sign to t.
local function add(t, d, sign)
  for i = 1, NC do
    local v = d[i]
    if v and v ~= 0 then t[i] = (t[i] or 0) + sign * v end
  end
end

-- hmget and hset work in chunks so that unpack never sees too many values.
local function hmget(key, fields)
  local out = {}
  for i = 1, #fields, CHUNK do
    local part = redis.call('HMGET', key, unpack(fields, i, math.min(i + CHUNK - 1, #fields)))
    for j = 1, #part do out[#out + 1] = part[j] end
  end
  return out
end

local function hset(key, pairs_)
  for i = 1, #pairs_, 2 * CHUNK do
    redis.call('HSET', key, unpack(pairs_, i, math.min(i + 2 * CHUNK - 1, #pairs_)))
  end
end

local function hdel(key, fields)
  for i = 1, #fields, CHUNK do
    redis.call('HDEL', key, unpack(fields, i, math.min(i + CHUNK - 1, #fields)))
  end
end

-- Totals: changes to each scope's window totals are accumulated in Lua and
-- written once per scope and window.
local acc = {}    -- acc[scope number][window] = counters to add
local order = {}  -- scope numbers in first-touched order

local function accumulate(i, w, d, sign)
  local s = acc[i]
  if not s then
    s = {}
    acc[i] = s
    order[#order + 1] = i
  end
  local t = s[w]
  if not t then
    t = {}
    s[w] = t
  end
  add(t, d, sign)
end

-- Field names of the view per window, built once per script call.
local STATS = {'nps_responses', 'nps_promoters', 'nps_passives', 'nps_detractors', 'nps', 'nps_moe95',
  'detractor_share', 'csat_responses', 'csat_satisfied', 'csat', 'csat_mean', 'ces_responses', 'ces_easy',
  'ces', 'ces_easy_share', 'tickets_opened', 'tickets_resolved', 'tickets_reopened',
  'ticket_first_response_avg_s', 'ticket_handle_avg_s', 'ticket_reopen_rate'}
local fieldnames = {}
local function fields(w)
  local f = fieldnames[w]
  if not f then
    f = {}
    for _, s in ipairs(STATS) do f[s] = w .. ':' .. s end
    fieldnames[w] = f
  end
  return f
end

-- view writes the public stats of the given windows from their totals,
-- deleting ratios whose denominator is 0, and bumps seq.
local function view(vkey, totals, now)
  local set, del = {}, {}
  for w, t in pairs(totals) do
    local f = fields(w)
    local function put(name, v) set[#set + 1] = f[name]; set[#set + 1] = v end
    local function ratio(name, num, den, scale)
      if den > 0 then put(name, fmtnum(scale * num / den)) else del[#del + 1] = f[name] end
    end
    for i = 1, NC do t[i] = t[i] or 0 end
    local n, p, d = t[1], t[2], t[3]
    put('nps_responses', fmtint(n))
    put('nps_promoters', fmtint(p))
    put('nps_passives', fmtint(n - p - d))
    put('nps_detractors', fmtint(d))
    ratio('nps', p - d, n, 100)
    if n > 0 then
      local P, D = p / n, d / n
      local v = ((P + D) - (P - D) ^ 2) / n
      if v < 0 then v = 0 end
      put('nps_moe95', fmtnum(1.96 * 100 * math.sqrt(v)))
    else
      del[#del + 1] = f.nps_moe95
    end
    ratio('detractor_share', d, n, 100)
    put('csat_responses', fmtint(t[4]))
    put('csat_satisfied', fmtint(t[5]))
    ratio('csat', t[5], t[4], 100)
    ratio('csat_mean', t[6], t[4], 1)
    put('ces_responses', fmtint(t[8]))
    put('ces_easy', fmtint(t[9]))
    ratio('ces', t[10], t[8], 1)
    ratio('ces_easy_share', t[9], t[8], 100)
    put('tickets_opened', fmtint(t[12]))
    put('tickets_resolved', fmtint(t[13]))
    put('tickets_reopened', fmtint(t[14]))
    ratio('ticket_first_response_avg_s', t[16], t[15], 0.001)
    ratio('ticket_handle_avg_s', t[19], t[18], 0.001)
    ratio('ticket_reopen_rate', t[14], t[13], 100)
  end
  set[#set + 1] = 'updated_at'
  set[#set + 1] = fmtint(now)
  hset(vkey, set)
  if #del > 0 then hdel(vkey, del) end
  return redis.call('HINCRBY', vkey, 'seq', 1)
end

-- flush writes the accumulated totals and the views of the scopes they
-- belong to; skeys and vkeys map scope numbers to keys, names to scope
-- names; windows lists the configured windows. It marks each scope dirty
-- for cx.scores.
local function flush(skeys, vkeys, names, dirty, now, windows)
  for _, i in ipairs(order) do
    local fields, ws = {}, {}
    -- A new view gets every window, so that its counts exist (as 0).
    local fresh = redis.call('EXISTS', vkeys[i]) == 0
    for _, w in ipairs(windows) do
      if acc[i][w] or fresh then
        ws[#ws + 1] = w
        fields[#fields + 1] = w .. ':t'
        if not acc[i][w] then acc[i][w] = {} end
      end
    end
    local old = hmget(skeys[i], fields)
    local set, del, totals = {}, {}, {}
    for j, w in ipairs(ws) do
      local t = parse(old[j] or nil)
      add(t, acc[i][w], 1)
      local packed, zero = pack(t)
      if zero then del[#del + 1] = fields[j] else set[#set + 1] = fields[j]; set[#set + 1] = packed end
      totals[w] = t
    end
    if #set > 0 then hset(skeys[i], set) end
    if #del > 0 then hdel(skeys[i], del) end
    local seq = view(vkeys[i], totals, now)
    redis.call('HSET', dirty, names[i], seq)
  end
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

local function splitcsv(s)
  local t = {}
  for v in string.gmatch(s, '[^,]+') do t[#t + 1] = v end
  return t
end
