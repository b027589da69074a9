-- Shared functions of the cxpulse scripts. Each script is this file plus
-- its own body; every key a script touches carries the tenant's hash tag.

local NC = 20 -- counters per bucket, in the order of store.Counter

local function parse(s)
  local t = {}
  if s then
    for v in string.gmatch(s, '[^,]+') do t[#t + 1] = tonumber(v) end
  end
  for i = #t + 1, NC do t[i] = 0 end
  return t
end

local function fmtint(x)
  if x > -1e14 and x < 1e14 then return tostring(x) end
  return string.format('%d', x)
end

local function pack(t)
  local out = {}
  local zero = true
  for i = 1, NC do
    local v = t[i]
    if v ~= 0 then zero = false end
    if v == 0 then
      out[i] = '0'
    elseif v == math.floor(v) and math.abs(v) < 9e15 then
      out[i] = fmtint(v)
    else
      out[i] = string.format('%.17g', v)
    end
  end
  return table.concat(out, ','), zero
end

-- shortest decimal that reads back as the same double
local function fmtnum(x)
  if x == math.floor(x) and math.abs(x) < 1e15 then return fmtint(x) end
  for p = 15, 17 do
    local s = string.format('%.' .. p .. 'g', x)
    if tonumber(s) == x then return s end
  end
  return string.format('%.17g', x)
end

-- view writes the public stats of every window from the totals of one
-- scope, deleting ratios whose denominator is 0.
local function view(skey, vkey, windows, now)
  local set, del = {}, {}
  local function put(name, v) set[#set + 1] = name; set[#set + 1] = v end
  for _, w in ipairs(windows) do
    local t = parse(redis.call('HGET', skey, w .. ':t'))
    local function ratio(name, num, den, scale)
      if den > 0 then put(w .. ':' .. name, fmtnum(scale * num / den)) else del[#del + 1] = w .. ':' .. name end
    end
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
  redis.call('HSET', vkey, unpack(set))
  if #del > 0 then redis.call('HDEL', vkey, unpack(del)) end
  return redis.call('HINCRBY', vkey, 'seq', 1)
end

local function add(t, s, sign)
  local d = parse(s)
  for i = 1, NC do t[i] = t[i] + sign * d[i] end
  return t
end

-- expire removes bucket member (scope \t window \t index) from its scope's
-- totals and deletes the bucket.
local function expire(skey, member)
  local _, _, w, idx = string.find(member, '^[^\t]*\t([^\t]*)\t([^\t]*)$')
  local field = w .. ':' .. idx
  local b = redis.call('HGET', skey, field)
  if b then
    local tot = add(parse(redis.call('HGET', skey, w .. ':t')), b, -1)
    local packed, zero = pack(tot)
    if zero then redis.call('HDEL', skey, w .. ':t') else redis.call('HSET', skey, w .. ':t', packed) end
    redis.call('HDEL', skey, field)
  end
end

local function splitcsv(s)
  local t = {}
  for v in string.gmatch(s, '[^,]+') do t[#t + 1] = v end
  return t
end
