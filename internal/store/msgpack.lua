-- MessagePack arrays of numbers (and, when unpacking, strings) in plain
-- Lua, for a server without cmsgpack (the demo's embedded Redis). Redis's
-- own cmsgpack, in C, is used whenever it is there. Integers from 0 to 2^53 are written as
-- positive fixint or uint64, every other number as float64: exact for
-- every value a counter holds.
local function luamsgpack()
  local byte, char, floor = string.byte, string.char, math.floor
  local function be(x, n) -- n big-endian bytes of the whole number x >= 0
    local out = {}
    for i = n, 1, -1 do
      out[i] = x % 256
      x = floor(x / 256)
    end
    return char(unpack(out))
  end
  local function num(s, i, n) -- n big-endian bytes from s[i] as a number
    local x = 0
    for k = i, i + n - 1 do x = x * 256 + byte(s, k) end
    return x
  end
  local function f64(v)
    if v == 0 then return char(0xcb, 0, 0, 0, 0, 0, 0, 0, 0) end
    local sign = 0
    if v < 0 then sign, v = 1, -v end
    local m, e = math.frexp(v) -- v = m * 2^e, 0.5 <= m < 1
    local mant = (m * 2 - 1) * 2 ^ 52
    local hi = sign * 2 ^ 31 + (e + 1022) * 2 ^ 20 + floor(mant / 2 ^ 32)
    return char(0xcb) .. be(hi, 4) .. be(mant % 2 ^ 32, 4)
  end
  local function unf64(s, i)
    local hi, lo = num(s, i, 4), num(s, i + 4, 4)
    local sign = 1
    if hi >= 2 ^ 31 then sign, hi = -1, hi - 2 ^ 31 end
    local e = floor(hi / 2 ^ 20)
    local mant = (hi % 2 ^ 20) * 2 ^ 32 + lo
    if e == 0 and mant == 0 then return 0 end
    return sign * math.ldexp(1 + mant / 2 ^ 52, e - 1023)
  end
  local function unf32(s, i)
    local x = num(s, i, 4)
    local sign = 1
    if x >= 2 ^ 31 then sign, x = -1, x - 2 ^ 31 end
    local e, mant = floor(x / 2 ^ 23), x % 2 ^ 23
    if e == 0 and mant == 0 then return 0 end
    return sign * math.ldexp(1 + mant / 2 ^ 23, e - 127)
  end
  local mp = {}
  function mp.pack(t)
    local n = #t
    local out = {}
    if n < 16 then out[1] = char(0x90 + n) else out[1] = char(0xdc) .. be(n, 2) end
    for i = 1, n do
      local v = t[i]
      if v == floor(v) and v >= 0 and v < 128 then
        out[#out + 1] = char(v)
      elseif v == floor(v) and v >= 0 and v < 2 ^ 53 then
        out[#out + 1] = char(0xcf) .. be(v, 8)
      else
        out[#out + 1] = f64(v)
      end
    end
    return table.concat(out)
  end
  function mp.unpack(s)
    local t, i, n = {}, 2, 0
    local h = byte(s, 1)
    if h >= 0x90 and h <= 0x9f then n = h - 0x90
    elseif h == 0xdc then n, i = num(s, 2, 2), 4
    elseif h == 0xdd then n, i = num(s, 2, 4), 6
    else error('not a MessagePack array') end
    local widths = {[0xcc] = 1, [0xcd] = 2, [0xce] = 4, [0xcf] = 8, [0xd0] = 1, [0xd1] = 2, [0xd2] = 4, [0xd3] = 8}
    for k = 1, n do
      local b = byte(s, i)
      if b < 0x80 then t[k], i = b, i + 1
      elseif b >= 0xe0 then t[k], i = b - 256, i + 1
      elseif b == 0xcb then t[k], i = unf64(s, i + 1), i + 9
      elseif b == 0xca then t[k], i = unf32(s, i + 1), i + 5
      elseif b >= 0xa0 and b <= 0xbf or b == 0xd9 or b == 0xda or b == 0xdb then
        local len, from = b - 0xa0, i + 1
        if b == 0xd9 then len, from = num(s, i + 1, 1), i + 2
        elseif b == 0xda then len, from = num(s, i + 1, 2), i + 3
        elseif b == 0xdb then len, from = num(s, i + 1, 4), i + 5 end
        t[k], i = string.sub(s, from, from + len - 1), from + len
      elseif widths[b] then
        local w = widths[b]
        local x = num(s, i + 1, w)
        if b >= 0xd0 and x >= 2 ^ (8 * w - 1) then x = x - 2 ^ (8 * w) end
        t[k], i = x, i + 1 + w
      else error('unexpected MessagePack type ' .. b) end
    end
    return t
  end
  return mp
end
local mp = rawget(_G, 'cmsgpack') or luamsgpack()
