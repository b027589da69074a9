-- apply: one tenant's slice of fetched batches of one or more partitions.
-- KEYS: 1 watermarks, 2 ids (this period), 3 ids (previous period),
--       4 expiry zset, 5 dirty scopes, 6 scope set, 7 dead-letter outbox,
--       8 pending views, 9 customers hash, 10 customers due zset,
--       11 conversions zset, 12 referral codes hash, then per scope i:
--       10+3i counters hash, 11+3i active customers zset, 12+3i comment
--       samples list; then per scope its nslots year hashes of periods
--       (the to-date sums read them); then the theme bucket hashes; then
--       the keys the period deltas and the erasure arguments name by
--       number (period bucket hashes; erased, index and alerts keys).
-- ARGV: 1 now ms, 2 dedupe horizon ms, 3 windows csv,
--       4 nranges and (topic/partition, epoch, range start, range end,
--       the watermark expected at least, the last rewind request the
--       partition carried out) each,
--       then nscopes and the scope names,
--       the ids as a MessagePack array, the revisions expected of them
--       (-1: new) as another, the (id, record) pairs as a third,
--       the deltas as one MessagePack array (see below),
--       nletters and the dead letters to publish,
--       the customers as a MessagePack array (see below),
--       ncodes and (referral code, referrer) pairs,
--       the term changes as a MessagePack array (see below),
--       nsamples and (scope number, the sample's id prefix, the sample or
--       '' to drop the event's sample only) triples,
--       the erasure arguments (erasureArgs in erase.go: the erased hash's
--       number in KEYS, the count of erasures planned with, the index
--       entries, the erasure of a customer),
--       the period deltas as a MessagePack array (see below), the to-date
--       sums (parsetodate), nslots, and the instant (ms) the to-date sums
--       stop being current (the next local midnight; 0: never).
-- Everything is checked before the first write.
--@section checks
local wm = KEYS[1]
local horizon = tonumber(ARGV[2])
local nranges = tonumber(ARGV[4])
local pos = 5
local ranges, skips = {}, {}
-- A tenant being rebuilt takes messages only from partitions that read
-- again from their log start for its rebuild (rewind request 'reset').
local reset = tonumber(redis.call('HGET', wm, 'reset') or '0')
for r = 1, nranges do
  local tp, epoch, start, stop = ARGV[pos], tonumber(ARGV[pos + 1]), tonumber(ARGV[pos + 2]), ARGV[pos + 3]
  local expect, rewound = tonumber(ARGV[pos + 4]), tonumber(ARGV[pos + 5])
  pos = pos + 6
  local e = redis.call('HGET', wm, tp .. ':e')
  if e and tonumber(e) > epoch then return {'fenced', tp} end
  if rewound < reset then return {'rewind', tp, fmtint(reset)} end
  local w = redis.call('HGET', wm, tp)
  -- The group applied this tenant's messages up to expect: a watermark
  -- below it means the tenant's state was lost or rolled back.
  if expect > 0 and (not w or tonumber(w) < expect) then return {'behind', tp, w or '', expect} end
  if w and start < tonumber(w) then
    skips[#skips + 1] = tp
    skips[#skips + 1] = w
  end
  ranges[r] = {tp, epoch, stop}
end
if #skips > 0 then
  table.insert(skips, 1, 'skip')
  return skips
end

-- Erasures: a slice planned with other erasures than the tenant's has
-- left out the wrong customers; an erasure checks that the customer is
-- not erased yet and that their index is as it read it.
local erasedKey = KEYS[tonumber(ARGV[#ARGV - 7])]
local ER = mp.unpack(ARGV[#ARGV - 4])
local er
if #ER > 0 then
  -- A customer erased meanwhile is answered with that receipt, unless
  -- this is an erasure again of what was found of them since (ER[4], the
  -- earlier receipt as read).
  local receipt = redis.call('HGET', erasedKey, ER[2])
  if receipt and receipt ~= ER[4] then return {'erased', receipt} end
  if not receipt and ER[4] ~= '' then return {'stale_read'} end
end
local nerased = redis.call('HLEN', erasedKey)
if nerased ~= tonumber(ARGV[#ARGV - 6]) then return {'erasures', nerased} end
if #ER > 0 then
  er = {customer = ER[1], field = ER[2], receipt = ER[3], again = ER[4], ikey = KEYS[ER[5]], nremoved = ER[7],
    ids = {}, codes = {}, samples = {}, words = {}}
  if table.concat(redis.call('LRANGE', er.ikey, 0, -1)) ~= ER[6] then return {'stale_read'} end
  local k = 8
  for _, list in ipairs({er.ids, er.codes}) do
    local n = ER[k]; k = k + 1
    for j = 1, n do list[j] = ER[k]; k = k + 1 end
  end
  for _, list in ipairs({er.samples, er.words}) do
    for j = 1, ER[k] do list[j] = {ER[k + 2 * j - 1], ER[k + 2 * j]} end
    k = k + 1 + 2 * ER[k]
  end
  er.queued = {}
  for j = 1, ER[k] do er.queued[j] = {ER[k + 3 * j - 2], ER[k + 3 * j - 1], ER[k + 3 * j]} end
  k = k + 1 + 3 * ER[k]
  er.akey, er.alerts = KEYS[ER[k]], {}
  for j = 1, ER[k + 1] do
    local fp, old = ER[k + 3 * j - 1], ER[k + 3 * j]
    if redis.call('HGET', er.akey, fp) ~= old then return {'stale_read'} end
    er.alerts[#er.alerts + 1] = fp
    er.alerts[#er.alerts + 1] = ER[k + 3 * j + 1]
  end
end

local now = tonumber(ARGV[1])
local seen = tonumber(redis.call('HGET', wm, 'now') or '0')
if seen > now then now = seen end
-- The to-date sums were planned for a local day that has ended by the
-- tenant's clock: plan again.
local untilms = tonumber(ARGV[#ARGV])
if untilms > 0 and now >= untilms then return {'period_moved', fmtint(now)} end
local nslots = tonumber(ARGV[#ARGV - 1])

local nscopes = tonumber(ARGV[pos]); pos = pos + 1
local names, index, skeys, akeys = {}, {}, {}, {}
for i = 1, nscopes do
  names[i] = ARGV[pos]; index[ARGV[pos]] = i; pos = pos + 1
  skeys[i] = KEYS[10 + 3 * i]
  akeys[i] = KEYS[11 + 3 * i]
end
local pkeys = {}
for i = 1, nscopes do
  pkeys[i] = {}
  for s = 1, nslots do pkeys[i][s] = KEYS[12 + 3 * nscopes + (i - 1) * nslots + s] end
end
local tbase = 12 + 3 * nscopes + nscopes * nslots

-- Remembered ids: one HMGET per period for the whole slice. The ids and
-- the revisions expected of them (-1: new) are two MessagePack arrays.
local ids, expects = mp.unpack(ARGV[pos]), mp.unpack(ARGV[pos + 1])
pos = pos + 2
local nids = #ids
local conflicts = {}
local inprev = {} -- ids whose record sits in the previous period
if nids > 0 then
  local cur, prev = hmget(KEYS[2], ids), hmget(KEYS[3], ids)
  for k = 1, nids do
    local rec, rev = nil, nil
    if cur[k] or prev[k] then
      if prev[k] then inprev[ids[k]] = true end
      for _, r in ipairs({cur[k], prev[k]}) do
        if r and not rec then
          local _, _, rv, arrival = string.find(r, '^([^|]*)|([^|]*)|')
          if tonumber(arrival) > now - horizon then rec, rev = r, tonumber(rv) end
        end
      end
    end
    local expect = expects[k]
    if (expect == -1 and rec) or (expect ~= -1 and rev ~= expect) then
      conflicts[#conflicts + 1] = ids[k]
      conflicts[#conflicts + 1] = rec or ''
    end
  end
end

-- The customers' records must be at the versions the plan was made from.
-- Their arguments come after the deltas and letters: skip to them.
local cpos = pos
cpos = cpos + 1                              -- records
cpos = cpos + 1                              -- deltas
-- The outbox is bounded: while the publisher cannot drain it, slices that
-- would add to it wait (answered 'outbox_full', retried, counted).
local nletters = tonumber(ARGV[cpos])
if nletters > 0 then
  local queued = redis.call('LLEN', KEYS[7])
  if queued + nletters > OUTBOX_CAP then return {'outbox_full', queued} end
end
cpos = cpos + 1 + nletters                   -- letters
-- One MessagePack array: per customer id, expected version (-1: none),
-- record ('' to forget), new version, due ms (0: never, -1: unchanged),
-- nactive and (scope number, spell start ms or -1 to remove) each, the
-- conversion to remove or '', the one to add or '', its time ms.
local C = mp.unpack(ARGV[cpos]); cpos = cpos + 1
local custs, cids = {}, {}
local k = 1
while k <= #C do
  local c = {id = C[k], expect = C[k + 1], rec = C[k + 2], newv = C[k + 3], due = C[k + 4]}
  local nact = C[k + 5]
  k = k + 6
  c.act = {}
  for j = 1, nact do
    c.act[j] = {C[k], C[k + 1]}
    k = k + 2
  end
  c.convdel, c.convadd, c.convat = C[k], C[k + 1], C[k + 2]
  k = k + 3
  custs[#custs + 1], cids[#cids + 1] = c, c.id
end
local cconflicts = {}
if #custs > 0 then
  local stored = hmget(KEYS[9], cids)
  for k, c in ipairs(custs) do
    local ver = stored[k] and tonumber(string.match(stored[k], '^(%d+)|')) or -1
    if ver ~= c.expect then
      cconflicts[#cconflicts + 1] = c.id
      cconflicts[#cconflicts + 1] = stored[k] or ''
    end
  end
end
if #conflicts > 0 or #cconflicts > 0 then
  local out = {'conflict', #conflicts / 2}
  for _, v in ipairs(conflicts) do out[#out + 1] = v end
  out[#out + 1] = #cconflicts / 2
  for _, v in ipairs(cconflicts) do out[#out + 1] = v end
  return out
end

--@section expiry
-- Writes from here on.
if now > seen then redis.call('HSET', wm, 'now', fmtint(now)) end
local due = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now)
for _, m in ipairs(due) do
  local i = index[string.match(m, '^([^\t]*)\t')]
  if i then
    expire(i, skeys[i], m)
    redis.call('ZREM', KEYS[4], m)
  end
end

--@section ids
-- Records: one MessagePack array of (id, record) pairs.
local recs = mp.unpack(ARGV[pos]); pos = pos + 1
if #recs > 0 then
  hset(KEYS[2], recs)
  if next(inprev) then
    local moved = {}
    for k = 1, #recs, 2 do
      if inprev[recs[k]] then moved[#moved + 1] = recs[k] end
    end
    if #moved > 0 then hdel(KEYS[3], moved) end
  end
end

--@section index
-- Contribution index: one MessagePack array of (key number, entry, ms to
-- keep it from now); a key's time to live only grows. The entries of a
-- key are pushed onto its list by one RPUSH (a compact listpack, each
-- push costing the entry, not the history): a new list gets its time to
-- live, an older one a longer one only (GT).
-- An entry whose time is 0 removes the list's elements it starts instead
-- (a revision's earlier comment words), before anything is pushed.
local IX = mp.unpack(ARGV[#ARGV - 5])
local ixadd, ixttl, ixorder = {}, {}, {}
for k = 1, #IX, 3 do
  local key = KEYS[IX[k]]
  if IX[k + 2] == 0 then
    local prefix = IX[k + 1]
    for _, v in ipairs(redis.call('LRANGE', key, 0, -1)) do
      if string.sub(v, 1, #prefix) == prefix then redis.call('LREM', key, 0, v) end
    end
  else
    if not ixadd[key] then
      ixadd[key], ixttl[key] = {}, 0
      ixorder[#ixorder + 1] = key
    end
    local l = ixadd[key]
    l[#l + 1] = IX[k + 1]
    if IX[k + 2] > ixttl[key] then ixttl[key] = IX[k + 2] end
  end
end
for _, key in ipairs(ixorder) do
  local l = ixadd[key]
  if redis.call('RPUSH', key, unpack(l)) == #l then
    redis.call('PEXPIRE', key, ixttl[key])
  else
    redis.call('PEXPIRE', key, ixttl[key], 'GT')
  end
end

--@section erase
-- An erasure removes what else holds the customer, counting it, and
-- records its receipt. Their record, due time, active-set memberships and
-- conversion go in the customers' part below: counted here.
if er then
  local removed = er.nremoved + hdel(KEYS[2], er.ids) + hdel(KEYS[3], er.ids)
  redis.call('DEL', er.ikey)
  for _, w in ipairs(er.words) do removed = removed + redis.call('LREM', KEYS[w[1]], 0, w[2]) end
  -- A notification waiting for a sink is rewritten where it still waits
  -- (one delivered meanwhile is gone).
  for _, q in ipairs(er.queued) do
    local at = redis.call('LPOS', KEYS[q[1]], q[2])
    if at then redis.call('LSET', KEYS[q[1]], at, q[3]) end
  end
  for _, code in ipairs(er.codes) do
    if redis.call('HGET', KEYS[12], code) == er.customer then removed = removed + redis.call('HDEL', KEYS[12], code) end
  end
  for _, smp in ipairs(er.samples) do
    local key = KEYS[12 + 3 * smp[1]]
    for _, v in ipairs(redis.call('LRANGE', key, 0, -1)) do
      if string.sub(v, 1, #smp[2]) == smp[2] then removed = removed + redis.call('LREM', key, 0, v) end
    end
  end
  removed = removed + redis.call('HEXISTS', KEYS[9], er.customer)
  if redis.call('ZSCORE', KEYS[10], er.customer) then removed = removed + 1 end
  for _, c in ipairs(custs) do
    for _, op in ipairs(c.act) do
      if op[2] == -1 then removed = removed + 1 end
    end
    if c.convdel ~= '' then removed = removed + 1 end
  end
  hset(er.akey, er.alerts)
  if er.again ~= '' then redis.call('HSET', erasedKey, er.field .. '#' .. fmtint(now), er.again) end
  redis.call('HSET', erasedKey, er.field, er.receipt .. ',"keys_removed":' .. fmtint(removed) .. '}')
end

--@section buckets
-- Bucket deltas, one MessagePack array: per delta its scope number,
-- window number, field (window:bucket), when the bucket leaves the window
-- (ms), then the number of changed counters and (counter position,
-- change) for each.
-- Grouped by scope: one HMGET and one HSET per scope. Buckets are dense
-- arrays, trailing zeros dropped; only the changed counters are visited.
local windows = parsewindows(ARGV[3])
local D = mp.unpack(ARGV[pos]); pos = pos + 1
local byScope, scopeOrder = {}, {}
local j, nd = 1, #D
while j <= nd do
  if D[j + 3] > now then
    local g = entry(byScope, scopeOrder, D[j])
    g[#g + 1] = j
  end
  j = j + 5 + 2 * D[j + 4]
end
for _, i in ipairs(scopeOrder) do
  local g, fields = byScope[i], {}
  for n, j in ipairs(g) do fields[n] = D[j + 2] end
  local old = hmget(skeys[i], fields)
  local set, del = {}, {}
  local totals = entry(acc, order, i)
  for n, j in ipairs(g) do
    local b = parse(old[n] or nil)
    local len = #b
    local top = len
    local w = windows[D[j + 1]].name
    local t = totals[w]
    if not t then
      t = {}
      totals[w] = t
    end
    for q = j + 5, j + 3 + 2 * D[j + 4], 2 do
      local c, v = D[q], D[q + 1]
      b[c] = (b[c] or 0) + v
      t[c] = (t[c] or 0) + v
      if c > top then top = c end
    end
    for q = len + 1, top do
      if not b[q] then b[q] = 0 end
    end
    while top > 0 and b[top] == 0 do
      b[top] = nil
      top = top - 1
    end
    if top == 0 then
      del[#del + 1] = fields[n]
    else
      set[#set + 1] = fields[n]
      set[#set + 1] = mp.pack(b)
      if not old[n] then redis.call('ZADD', KEYS[4], D[j + 3], names[i] .. '\t' .. (string.gsub(fields[n], ':', '\t', 1))) end
    end
  end
  if #set > 0 then hset(skeys[i], set) end
  if #del > 0 then hdel(skeys[i], del) end
end

--@section letters
local nletters = tonumber(ARGV[pos]); pos = pos + 1
for _ = 1, nletters do
  redis.call('RPUSH', KEYS[7], ARGV[pos])
  pos = pos + 1
end


--@section customers
-- Customers: their records, when they are next due, the active sets of
-- their scopes and their referral conversion; each key is written by one
-- command for the whole slice (a customer appears once per slice, so the
-- order among customers does not matter).
pos = cpos
local recs, gone, due, undue, conv, unconv = {}, {}, {}, {}, {}, {}
local adds, rems, actOrder = {}, {}, {}
for _, c in ipairs(custs) do
  if c.rec == '' then
    gone[#gone + 1] = c.id
  else
    recs[#recs + 1] = c.id
    recs[#recs + 1] = fmtint(c.newv) .. '|' .. c.rec
  end
  if c.due > 0 then
    due[#due + 1] = c.due
    due[#due + 1] = c.id
  elseif c.due == 0 then
    undue[#undue + 1] = c.id
  end
  for _, op in ipairs(c.act) do
    local i = op[1]
    if not adds[i] then
      adds[i], rems[i] = {}, {}
      actOrder[#actOrder + 1] = i
    end
    if op[2] == -1 then
      rems[i][#rems[i] + 1] = c.id
    else
      local l = adds[i]
      l[#l + 1] = op[2]
      l[#l + 1] = c.id
    end
    touched[i] = true
    entry(acc, order, i)
  end
  if c.convdel ~= '' then unconv[#unconv + 1] = c.convdel end
  if c.convadd ~= '' then
    conv[#conv + 1] = c.convat
    conv[#conv + 1] = c.convadd
  end
end
many('HSET', KEYS[9], recs, 2)
many('HDEL', KEYS[9], gone, 1)
many('ZADD', KEYS[10], due, 2)
many('ZREM', KEYS[10], undue, 1)
for _, i in ipairs(actOrder) do
  many('ZREM', akeys[i], rems[i], 1)
  many('ZADD', akeys[i], adds[i], 2)
end
-- A moved conversion is removed before it is added again.
many('ZREM', KEYS[11], unconv, 1)
many('ZADD', KEYS[11], conv, 2)
local ncodes = tonumber(ARGV[pos]); pos = pos + 1
local codes = {}
for k = 1, 2 * ncodes do codes[k] = ARGV[pos + k - 1] end
pos = pos + 2 * ncodes
many('HSET', KEYS[12], codes, 2)

--@section themes
-- Theme terms of detractor comments, per scope and hour or day bucket:
-- one MessagePack array of (theme bucket number, term, change), each pair
-- once. One HMGET and one HSET per bucket; a term whose count falls to 0
-- is deleted. The sweeper deletes the buckets by name once their time is
-- up.
local T = mp.unpack(ARGV[pos]); pos = pos + 1
local byBucket, bucketOrder = {}, {}
for k = 1, #T, 3 do
  local g = entry(byBucket, bucketOrder, T[k])
  g[#g + 1] = k
end
for _, b in ipairs(bucketOrder) do
  local key, g, fields = KEYS[tbase + b], byBucket[b], {}
  for n, k in ipairs(g) do fields[n] = T[k + 1] end
  local old = hmget(key, fields)
  local set, del = {}, {}
  -- A bucket holds at most TERMS_KEPT terms: a new term beyond them is not
  -- counted (the most frequent ones come first in a spike anyway).
  local size = redis.call('HLEN', key)
  for n, k in ipairs(g) do
    local count = tonumber(old[n] or 0) + T[k + 2]
    if count > 0 and (old[n] or size < TERMS_KEPT) then
      if not old[n] then size = size + 1 end
      set[#set + 1] = fields[n]
      set[#set + 1] = count
    elseif count <= 0 then
      del[#del + 1] = fields[n]
    end
  end
  hset(key, set)
  hdel(key, del)
end
-- Comment samples: a sample replaces the event's earlier one (a
-- revision replaces the event whole), or only drops it.
local nsamples = tonumber(ARGV[pos]); pos = pos + 1
for _ = 1, nsamples do
  local key, prefix, smp = KEYS[12 + 3 * tonumber(ARGV[pos])], ARGV[pos + 1], ARGV[pos + 2]
  for _, v in ipairs(redis.call('LRANGE', key, 0, -1)) do
    if string.sub(v, 1, #prefix) == prefix then redis.call('LREM', key, 0, v) end
  end
  if smp ~= '' then
    redis.call('LPUSH', key, smp)
    redis.call('LTRIM', key, 0, SAMPLES_KEPT - 1)
  end
  pos = pos + 3
end

--@section periods
-- Period buckets: one MessagePack array holding, per delta, the number of
-- its hash in KEYS, its scope number, its field, then the number of
-- changed counters and (counter position, change) for each. One HMGET and
-- one HSET per hash; the sweeper deletes the hashes by name.
local P = mp.unpack(ARGV[#ARGV - 3])
local byKey, keyOrder = {}, {}
local j, np = 1, #P
while j <= np do
  local g = entry(byKey, keyOrder, P[j])
  g[#g + 1] = j
  entry(acc, order, P[j + 1]) -- the scope's to-date sums may move
  j = j + 4 + 2 * P[j + 3]
end
for _, kn in ipairs(keyOrder) do
  local key, g, fields = KEYS[kn], byKey[kn], {}
  for n, j in ipairs(g) do fields[n] = P[j + 2] end
  local old = hmget(key, fields)
  local set, del = {}, {}
  for n, j in ipairs(g) do
    local b = parse(old[n] or nil)
    for q = j + 4, j + 2 + 2 * P[j + 3], 2 do
      b[P[q]] = (b[P[q]] or 0) + P[q + 1]
    end
    local packed, zero = pack(b)
    if zero then del[#del + 1] = fields[n] else set[#set + 1] = fields[n]; set[#set + 1] = packed end
  end
  hset(key, set)
  hdel(key, del)
end

--@section flush
local views = flush(skeys, akeys, names, KEYS[5], KEYS[8], windows, now, parsetodate(ARGV[#ARGV - 2]), pkeys, true)
--@section watermarks
local seen = {}
for k, i in ipairs(order) do seen[k] = names[i] end
many('SADD', KEYS[6], seen, 1)
for _, r in ipairs(ranges) do redis.call('HSET', wm, r[1], r[3], r[1] .. ':e', r[2]) end
--@section end
table.insert(views, 1, 'ok')
return views
