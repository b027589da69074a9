package store

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/mpack"
	"github.com/cxpulse/cxpulse/internal/testenv"
)

// TestLuaMsgPack checks, in a real redis-server, the plain-Lua MessagePack
// the scripts use where a server has no cmsgpack: what it packs, cmsgpack
// and Go read back exactly, and it reads back exactly what cmsgpack packs
// (integers of every width, float32 and float64).
func TestLuaMsgPack(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	values := []float64{0, 1, 127, 128, 255, 256, 65535, 65536, 1 << 32, 1 << 40, 1<<53 - 1, -1, -31, -32, -33, -129,
		-40000, -(1 << 40), 0.5, 0.1, 1234.5678, -0.001, 3.25, 1e15 + 0.5, 123456789.123}
	script := msgpackLua + `
local lua = luamsgpack()
local vals = {}
for i = 1, #ARGV do vals[i] = tonumber(ARGV[i]) end
local bad = {}
local function same(tag, got)
  for i = 1, #vals do
    if got[i] ~= vals[i] then bad[#bad + 1] = tag .. ' #' .. i .. ': ' .. string.format('%.17g', got[i] or 0/0) end
  end
end
same('lua->lua', lua.unpack(lua.pack(vals)))
same('cmsgpack->lua', lua.unpack(cmsgpack.pack(vals)))
same('lua->cmsgpack', cmsgpack.unpack(lua.pack(vals)))
return {lua.pack(vals), bad}`
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	res, err := rdb.Eval(t.Context(), script, nil, args...).Slice()
	require.NoError(t, err)
	require.Empty(t, res[1], "mismatches")
	got, err := mpack.UnpackCounters([]byte(res[0].(string)))
	require.NoError(t, err)
	for i, v := range values {
		require.Equal(t, v, got[i], "Go reading value %d", i)
	}
}

// TestLuaReadsWhatGoPacks: the arrays the Go side packs for the scripts
// (strings of every header width, integers of every width, negative ones,
// floats) read back the same through cmsgpack and through msgpack.lua.
func TestLuaReadsWhatGoPacks(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	strs := []string{"", "a", strings.Repeat("x", 31), strings.Repeat("y", 32), strings.Repeat("z", 255),
		strings.Repeat("é", 128), strings.Repeat("w", 65535), strings.Repeat("v", 70000), "a|b;c\x00d"}
	ints := []int64{0, 1, 127, 128, -1, -32, -33, -129, 1 << 31, -(1 << 31), 1<<31 - 1, 1 << 40, -(1 << 40), 1795343400000}
	floats := []float64{0.5, -0.001, 1234.5678, 3}
	var body []byte
	for _, s := range strs {
		body = mpack.AppendString(body, s)
	}
	for _, v := range ints {
		body = mpack.AppendInt(body, v)
	}
	for _, v := range floats {
		body = mpack.AppendNumber(body, v)
	}
	n := len(strs) + len(ints) + len(floats)
	packed := append(mpack.AppendArray(nil, n), body...)
	script := msgpackLua + `
local function show(t)
  local out = {}
  for i = 1, #t do
    local v = t[i]
    if type(v) == 'number' then out[i] = 'n' .. string.format('%.17g', v) else out[i] = 's' .. v end
  end
  return out
end
return {show(luamsgpack().unpack(ARGV[1])), show(cmsgpack.unpack(ARGV[1]))}`
	res, err := rdb.Eval(t.Context(), script, nil, packed).Slice()
	require.NoError(t, err)
	var want []any
	for _, s := range strs {
		want = append(want, "s"+s)
	}
	for _, v := range ints {
		want = append(want, fmt.Sprintf("n%d", v))
	}
	for _, v := range floats {
		want = append(want, "n"+strconv.FormatFloat(v, 'g', 17, 64))
	}
	require.Equal(t, want, res[0], "msgpack.lua")
	require.Equal(t, want, res[1], "cmsgpack")
}
