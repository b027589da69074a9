package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/store/keys"
)

// Script profiling (CXPULSE_DEBUG_SCRIPT_PROFILE, docs/performance.md):
// the scripts mark where their sections begin with comment lines
//
//	--@section <name>
//
// which cost nothing as comments. A Store made to profile runs its
// scripts with each mark turned into a lap: the Redis time (TIME) since
// the mark before is added to the tenant's profile hash
// (cxpulse:{<tenant>}:prof), under <script>.<section> of that earlier
// mark; "--@section end" closes the last section before the answer.
// Returns before a script's end leave their time uncounted.
const sectionMark = "--@section "

// profileHeader opens a profiled script: the profile key shares the hash
// tag of the script's first key (every script's first key is a tenant's).
const profileHeader = `local __prof = string.match(KEYS[1], '^[^{]*{[^}]*}') .. ':prof'
local __t0, __at = redis.call('TIME'), '%s.start'
local function __lap(next)
  local t = redis.call('TIME')
  redis.call('HINCRBY', __prof, __at, (t[1] - __t0[1]) * 1000000 + (t[2] - __t0[2]))
  __t0, __at = t, next
end
`

// profiled returns src with its section marks turned into laps named
// after script.
func profiled(script, src string) string {
	var b strings.Builder
	fmt.Fprintf(&b, profileHeader, script)
	for line := range strings.Lines(src) {
		trimmed := strings.TrimLeft(line, " ")
		if name, ok := strings.CutPrefix(trimmed, sectionMark); ok {
			indent := line[:len(line)-len(trimmed)]
			fmt.Fprintf(&b, "%s__lap(%q)\n", indent, script+"."+strings.TrimSpace(name))
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// ProfileScripts makes s run profiled scripts from now on.
func (s *Store) ProfileScripts() {
	s.apply = redis.NewScript(profiled("apply", sharedLua+applyLua))
	s.sweep = redis.NewScript(profiled("sweep", sharedLua+sweepLua))
	s.Writer.UseScript(redis.NewScript(profiled("view", sharedLua+writeViewLua)))
	s.roll = redis.NewScript(profiled("roll", sharedLua+rollLua))
}

// ScriptProfile sums the profile hashes of the tenants given and deletes
// them: Redis microseconds by script section.
func ScriptProfile(ctx context.Context, rdb redis.UniversalClient, tenants []string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, t := range tenants {
		m, err := rdb.HGetAll(ctx, keys.Profile(t)).Result()
		if err != nil {
			return nil, fmt.Errorf("reading the script profile of tenant %s: %w", t, err)
		}
		for k, v := range m {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("script profile of tenant %s, %s: %w", t, k, err)
			}
			out[k] += n
		}
		if err := rdb.Del(ctx, keys.Profile(t)).Err(); err != nil {
			return nil, fmt.Errorf("resetting the script profile of tenant %s: %w", t, err)
		}
	}
	return out, nil
}
