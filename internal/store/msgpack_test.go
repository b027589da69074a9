package store

import (
	"testing"

	"github.com/stretchr/testify/require"

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
	got, err := unpackCounters([]byte(res[0].(string)))
	require.NoError(t, err)
	for i, v := range values {
		require.Equal(t, v, got[i], "Go reading value %d", i)
	}
}
