-- Shared functions of the cxpulse scripts. Each script is this file plus
-- its own body; every key a script touches carries the tenant's hash tag.

local NC = 20 -- counters per bucket, in the order of store.Counter
local CHUNK = 500 -- arguments per unpack, well below Lua's limit

-- Counters are Lua tables indexed 1..NC; missing entries are 0.

-- parse reads packed counters: comma-separated decimals, position = index.
local function parse(s)
  local t = {}
  if s then
    local i = 0
    for v in string.gmatch(s, '[^,]+') do
      i = i + 1
      if v ~= '0' then t[i] = tonumber(v) end
    end
  end
  return t
end

-- parsedelta reads a sparse delta: index:value pairs.
local function parsedelta(s)
  local d = {}
  for i, v in string.gmatch(s, '(%d+):([^,]+)') do
    d[#d + 1] = tonumber(i) + 1
    d[#d + 1] = tonumber(v)
  end
  return d
end

local function fmtint(x)
  if x > -1e14 and x < 1e14 then return tostring(x) end
  return string.format('%d', x)
end

-- pack writes counters as comma-separated decimals, trailing zeros dropped;
-- zero is true when every counter is 0.
local function pack(t)
  local n = 0
  for i = NC, 1, -1 do
    local v = t[i]
    if v and v ~= 0 then n = i; break end
  end
  if n == 0 then return '0', true end
  local out = {}
  for i = 1, n do
    local v = t[i] or 0
    if v == 0 then
      out[i] = '0'
    elseif v == math.floor(v) and v > -1e14 and v < 1e14 then
      out[i] = tostring(v)
    else
      out[i] = string.format('%.17g', v)
    end
  end
  return table.concat(out, ','), false
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

-- add adds a sparse delta (index, value, index, value, ...) times sign.
local function add(t, d, sign)
  for k = 1, #d, 2 do
    local i = d[k]
    t[i] = (t[i] or 0) + sign * d[k + 1]
  end
end

-- sparse turns full counters into a sparse delta.
local function sparse(t)
  local d = {}
  for i = 1, NC do
    local v = t[i]
    if v and v ~= 0 then d[#d + 1] = i; d[#d + 1] = v end
  end
  return d
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

-- view writes the public stats of the given windows from their totals,
-- deleting ratios whose denominator is 0, and bumps seq.
local function view(vkey, totals, now)
  local set, del = {}, {}
  local function put(name, v) set[#set + 1] = name; set[#set + 1] = v end
  for w, t in pairs(totals) do
    local function ratio(name, num, den, scale)
      if den > 0 then put(w .. ':' .. name, fmtnum(scale * num / den)) else del[#del + 1] = w .. ':' .. name end
    end
    for i = 1, NC do t[i] = t[i] or 0 end
    local n, p, d = t[1], t[2], t[3]
    put(w .. ':nps_responses', fmtint(n))
    put(w .. ':nps_promoters', fmtint(p))
    put(w .. ':nps_passives', fmtint(n - p - d))
    put(w .. ':nps_detractors', fmtint(d))
    ratio('nps', p - d, n, 100)
    if n > 0 then
      local P, D = p / n, d / n
      local v = ((P + D) - (P - D) ^ 2) / n
      if v < 0 then v = 0 end
      put(w .. ':nps_moe95', fmtnum(1.96 * 100 * math.sqrt(v)))
    else
      del[#del + 1] = w .. ':nps_moe95'
    end
    ratio('detractor_share', d, n, 100)
    put(w .. ':csat_responses', fmtint(t[4]))
    put(w .. ':csat_satisfied', fmtint(t[5]))
    ratio('csat', t[5], t[4], 100)
    ratio('csat_mean', t[6], t[4], 1)
    put(w .. ':ces_responses', fmtint(t[8]))
    put(w .. ':ces_easy', fmtint(t[9]))
    ratio('ces', t[10], t[8], 1)
    ratio('ces_easy_share', t[9], t[8], 100)
    put(w .. ':tickets_opened', fmtint(t[12]))
    put(w .. ':tickets_resolved', fmtint(t[13]))
    put(w .. ':tickets_reopened', fmtint(t[14]))
    ratio('ticket_first_response_avg_s', t[16], t[15], 0.001)
    ratio('ticket_handle_avg_s', t[19], t[18], 0.001)
    ratio('ticket_reopen_rate', t[14], t[13], 100)
  end
  put('updated_at', fmtint(now))
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
      add(t, sparse(acc[i][w]), 1)
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
    accumulate(i, w, sparse(parse(b)), -1)
    redis.call('HDEL', skey, field)
  end
end

local function splitcsv(s)
  local t = {}
  for v in string.gmatch(s, '[^,]+') do t[#t + 1] = v end
  return t
end
