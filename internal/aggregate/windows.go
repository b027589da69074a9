package aggregate

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/rebuild"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/internal/timerule"
)

// What a start does when CXPULSE_WINDOWS has a window some tenant's state
// was not kept with (CXPULSE_ON_WINDOWS_CHANGE).
const (
	windowsRefuse  = "refuse"
	windowsRebuild = "rebuild"
)

// checkWindows holds the configured windows against those each tenant's
// state was kept with (store.WindowsField of its watermarks hash), and
// this version's counter layout against the tenant's (store.LayoutField):
// a window new to a tenant would start empty, and revisions would take
// from it what it never held; counters in another layout would be misread.
// Such tenants are rebuilt from the input topics
// (CXPULSE_ON_WINDOWS_CHANGE=rebuild) or the start is refused, naming
// them. A window dropped is only forgotten. Every tenant's record then
// names the configured windows and this layout.
func (a *Aggregator) checkWindows(ctx context.Context) error {
	want := store.WindowNames(a.cfg.Windows)
	names, err := a.rdb.SMembers(ctx, keys.Tenants).Result()
	if err != nil {
		return fmt.Errorf("listing the tenants: %w", err)
	}
	slices.Sort(names)
	kept := make([]*redis.SliceCmd, len(names))
	pipe := a.rdb.Pipeline()
	for i, t := range names {
		kept[i] = pipe.HMGet(ctx, keys.Watermarks(t), store.WindowsField, store.LayoutField)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("reading the windows the tenants' state was kept with: %w", err)
	}
	layout := strconv.Itoa(stats.LayoutVersion)
	var stale, differ, added []string
	var oldLayout []string
	for i, t := range names {
		had, hadLayout := field(kept[i], 0), field(kept[i], 1)
		if hadLayout != "" && hadLayout != layout {
			stale, differ = append(stale, t), append(differ, t)
			oldLayout = append(oldLayout, t)
			continue
		}
		if had == "" || had == want {
			continue // a tenant from before the record, or as configured
		}
		differ = append(differ, t)
		for _, w := range strings.Split(want, ",") {
			if !slices.Contains(strings.Split(had, ","), w) {
				stale = append(stale, t)
				if !slices.Contains(added, w) {
					added = append(added, w)
				}
				break
			}
		}
	}
	if len(oldLayout) > 0 && a.cfg.OnWindowsChange != windowsRebuild {
		return fmt.Errorf("the state of %d tenants (%s) keeps its counters in another layout than this version's (%s): "+
			"start with CXPULSE_ON_WINDOWS_CHANGE=rebuild to rebuild them from the input topics as `cxpulse rebuild` does (docs/operations.md)",
			len(oldLayout), list(oldLayout), layout)
	}
	if len(stale) > 0 {
		if a.cfg.OnWindowsChange != windowsRebuild {
			return fmt.Errorf("CXPULSE_WINDOWS: %s is new to the state of %d tenants (%s): it would start empty, and revisions would take from it "+
				"what it never held. Start with CXPULSE_ON_WINDOWS_CHANGE=rebuild to rebuild them from the input topics as `cxpulse rebuild` does "+
				"(docs/operations.md), or keep the windows they were kept with", strings.Join(added, ", "), len(stale), list(stale))
		}
		o := rebuild.Options{Group: a.cfg.GroupID, TopicPrefix: a.cfg.TopicPrefix, Topics: a.cfg.consumed(), Tenants: stale, Kafka: &a.cfg.Kafka, Redis: a.rdb,
			Rule: timerule.New(a.tenants, a.cfg.Windows[len(a.cfg.Windows)-1]), Now: a.now}
		req, err := rebuild.Start(ctx, o)
		if err != nil {
			return fmt.Errorf("CXPULSE_ON_WINDOWS_CHANGE=rebuild: %w", err)
		}
		a.log.Warn("windows or a counter layout new to the tenants' state: rebuilding them from the input topics", zap.Strings("windows", added),
			zap.Strings("tenants", stale), zap.Int64("rewind", req.ID))
	}
	pipe = a.rdb.Pipeline()
	for _, t := range differ {
		pipe.HSet(ctx, keys.Watermarks(t), store.WindowsField, want, store.LayoutField, layout)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("recording the windows of the tenants' state: %w", err)
	}
	return nil
}

// field is the i-th value of an HMGET, "" when absent.
func field(c *redis.SliceCmd, i int) string {
	if v, ok := c.Val()[i].(string); ok {
		return v
	}
	return ""
}

// list names at most five tenants.
func list(ts []string) string {
	if len(ts) <= 5 {
		return strings.Join(ts, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ts[:5], ", "), len(ts)-5)
}
