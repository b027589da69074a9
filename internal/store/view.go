package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/cxpulse/cxpulse/internal/mpack"
	"github.com/cxpulse/cxpulse/internal/periodbuckets"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/pkg/period"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// ScopeTotals is what a script changed in one scope: its new version and
// the new totals of the windows that moved.
type ScopeTotals struct {
	Scope   string
	Version int64
	Windows map[string]stats.Counters
	// Active is the number of customers active in the scope now; Retained,
	// per window, those of them whose spell began before the window.
	Active   int64
	Retained map[string]int64
}

// parseTotals reads the scope totals a script returns, starting at res[i]:
// a count, then per scope name, version, active customers, nwindows and
// (window, packed totals, retained customers).
func parseTotals(res []any, i int) ([]ScopeTotals, error) {
	if i >= len(res) {
		return nil, nil
	}
	n, ok := res[i].(int64)
	if !ok {
		return nil, fmt.Errorf("script answer: scope count is %T", res[i])
	}
	i++
	out := make([]ScopeTotals, 0, n)
	for range n {
		if i+3 >= len(res) {
			return nil, errors.New("script answer: truncated")
		}
		name, _ := res[i].(string)
		version, _ := res[i+1].(int64)
		active, _ := res[i+2].(int64)
		nw, _ := res[i+3].(int64)
		i += 4
		if i+3*int(nw) > len(res) {
			return nil, errors.New("script answer: truncated")
		}
		st := ScopeTotals{Scope: name, Version: version, Active: active,
			Windows: make(map[string]stats.Counters, nw), Retained: make(map[string]int64, nw)}
		for range nw {
			w, _ := res[i].(string)
			packed, _ := res[i+1].(string)
			c, err := mpack.UnpackCounters([]byte(packed))
			if err != nil {
				return nil, fmt.Errorf("totals of %s %s: %w", name, w, err)
			}
			st.Windows[w] = c
			st.Retained[w], _ = res[i+2].(int64)
			i += 3
		}
		out = append(out, st)
	}
	return out, nil
}

// writtenView is what this instance last wrote to a view: its version and,
// per window, the values of its stats in stats.AppendWindow order ("" for a
// deleted field; nil for a window not written). Never changed once cached.
type writtenView struct {
	seq  int64
	vals [][]string
}

// viewCacheSize bounds the views remembered; beyond it a view is written
// in full.
const viewCacheSize = 8192

// section is a part of the view: a rolling window, or a to-date calendar
// period (period.Aliases).
type section struct {
	name   string
	period bool
}

// viewSections lists the view's sections: the windows, then the to-date
// periods.
func viewSections(windows []window.Window) []section {
	var out []section
	for _, w := range windows {
		out = append(out, section{name: w.Name})
	}
	for _, a := range period.Aliases {
		out = append(out, section{name: a, period: true})
	}
	return out
}

// statFields returns, per section, the view field names of its stats in
// stats.AppendWindow (or AppendPeriod) order ("7d:nps", "mtd:nps", …).
func statFields(sections []section) [][]string {
	out := make([][]string, len(sections))
	for i, sec := range sections {
		names := stats.Names()
		if sec.period {
			names = stats.PeriodNames()
		}
		for _, name := range names {
			out[i] = append(out[i], sec.name+":"+name)
		}
	}
	return out
}

// sectionStats computes the stats of one section of a scope's view.
func sectionStats(out []stats.Stat, sec section, t *stats.Counters, v *ScopeTotals) []stats.Stat {
	if sec.period {
		return stats.AppendPeriod(out, t)
	}
	return stats.AppendWindow(out, t, v.Active, v.Retained[sec.name])
}

// writeViews writes the views of the scopes a script changed, computed from
// their new totals; a view already at a newer version is left alone. When
// the view in Redis is still the one this instance last wrote, only the
// fields that changed are sent.
func (s *Store) writeViews(ctx context.Context, tenant string, now time.Time, views []ScopeTotals) error {
	if len(views) == 0 {
		return nil
	}
	type write struct {
		scope   string
		version int64
		base    *writtenView // nil: write in full
		vals    [][]string   // per window, nil when not written
	}
	writes := make([]write, len(views))
	var computed []stats.Stat
	s.viewsMu.Lock()
	for i, v := range views {
		wr := write{scope: v.Scope, version: v.Version, base: s.views[tenant+"\x00"+v.Scope], vals: make([][]string, len(s.sections))}
		for wi, sec := range s.sections {
			if t, ok := v.Windows[sec.name]; ok {
				computed = sectionStats(computed[:0], sec, &t, &v)
				vals := make([]string, len(computed))
				for k := range computed {
					vals[k] = computed[k].Text()
				}
				wr.vals[wi] = vals
			}
		}
		writes[i] = wr
	}
	s.viewsMu.Unlock()

	// One call writes every view; a view whose base no longer matches is
	// written again in full by a second call.
	for round := 0; round < 2 && len(writes) > 0; round++ {
		keys := make([]string, 0, 1+2*len(writes))
		keys = append(keys, pendingKey(tenant))
		args := make([]any, 0, 2+len(writes)*64)
		args = append(args, now.UnixMilli(), len(writes), s.writer)
		var sets, dels []any
		for i := range writes {
			wr := &writes[i]
			keys = append(keys, ViewKey(tenant, wr.scope), countersKey(tenant, wr.scope))
			sets, dels = sets[:0], dels[:0]
			base := int64(-1)
			if wr.base != nil {
				base = wr.base.seq
			}
			for wi, vals := range wr.vals {
				var old []string
				if wr.base != nil {
					old = wr.base.vals[wi]
				}
				for k, v := range vals {
					if old != nil && old[k] == v {
						continue
					}
					if v == "" {
						dels = append(dels, s.fields[wi][k])
					} else {
						sets = append(sets, s.fields[wi][k], v)
					}
				}
			}
			args = append(args, wr.scope, wr.version, base, len(sets)/2)
			args = append(args, sets...)
			args = append(args, len(dels))
			args = append(args, dels...)
		}
		res, err := s.writeView.Run(ctx, s.rdb, keys, args...).Slice()
		if err != nil {
			return fmt.Errorf("writing %d views of tenant %s: %w", len(writes), tenant, err)
		}
		// The answer is, per view, 1 when written, 0 when a newer version
		// is there and -1 when its base did not match.
		var again []write
		s.viewsMu.Lock()
		for i := range writes {
			wr := &writes[i]
			code, _ := res[i].(int64)
			key := tenant + "\x00" + wr.scope
			switch code {
			case 1:
				vals := wr.vals
				if wr.base != nil {
					// Windows this write did not touch keep what was written.
					vals = slices.Clone(vals)
					for wi := range vals {
						if vals[wi] == nil {
							vals[wi] = wr.base.vals[wi]
						}
					}
				}
				if _, ok := s.views[key]; !ok && len(s.views) >= viewCacheSize {
					for k := range s.views {
						delete(s.views, k)
						break
					}
				}
				s.views[key] = &writtenView{seq: wr.version, vals: vals}
			case -1:
				delete(s.views, key)
				wr.base = nil
				again = append(again, *wr)
			default:
				delete(s.views, key)
			}
		}
		s.viewsMu.Unlock()
		writes = again
	}
	return nil
}

// RepairViews rewrites the views a crash left pending (their counters
// changed but the view was not written), from the totals in Redis. A scope
// counts as left behind when it is still pending, at the same version, at
// the next call: a view pending for the first time is usually being
// written right now, and is left to its writer.
func (s *Store) RepairViews(ctx context.Context, tenant string, sys period.System, now time.Time) error {
	return s.repairViews(ctx, tenant, sys, now, false)
}

// FlushPendingViews rewrites now every view of the tenant left pending.
// The applier calls it when a slice turns out to be applied already: the
// earlier attempt's answer was lost (a timeout, a dropped connection), so
// its views may not have been written, and the offsets must not be
// committed before they are.
func (s *Store) FlushPendingViews(ctx context.Context, tenant string, sys period.System, now time.Time) error {
	return s.repairViews(ctx, tenant, sys, now, true)
}

func (s *Store) repairViews(ctx context.Context, tenant string, sys period.System, now time.Time, all bool) error {
	marks, err := s.rdb.HGetAll(ctx, pendingKey(tenant)).Result()
	if err != nil {
		return fmt.Errorf("reading pending views of %s: %w", tenant, err)
	}
	s.viewsMu.Lock()
	seen := s.pendingSeen[tenant]
	s.pendingSeen[tenant] = marks
	s.viewsMu.Unlock()
	var pending []string
	for scope, version := range marks {
		if all || seen[scope] == version {
			pending = append(pending, scope)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	views := make([]ScopeTotals, 0, len(pending))
	td := periodbuckets.ToDateOf(sys, now)
	for _, scope := range pending {
		fields := []string{"v"}
		for _, w := range s.windows {
			fields = append(fields, w.Name+":t")
		}
		vals, err := s.rdb.HMGet(ctx, countersKey(tenant, scope), fields...).Result()
		if err != nil {
			return fmt.Errorf("reading totals of %s %s: %w", tenant, scope, err)
		}
		version, _ := strconv.ParseInt(fmt.Sprint(vals[0]), 10, 64)
		st := ScopeTotals{Scope: scope, Version: version, Windows: map[string]stats.Counters{}, Retained: map[string]int64{}}
		if st.Active, err = s.rdb.ZCard(ctx, activeKey(tenant, scope)).Result(); err != nil {
			return fmt.Errorf("counting active customers of %s %s: %w", tenant, scope, err)
		}
		for i, w := range s.windows {
			packed, _ := vals[i+1].(string)
			c, err := mpack.UnpackCounters([]byte(packed))
			if err != nil {
				return fmt.Errorf("totals of %s %s %s: %w", tenant, scope, w.Name, err)
			}
			st.Windows[w.Name] = c
			if st.Active > 0 {
				before := strconv.FormatInt(w.Begins(now).UnixMilli(), 10)
				if st.Retained[w.Name], err = s.rdb.ZCount(ctx, activeKey(tenant, scope), "-inf", "("+before).Result(); err != nil {
					return fmt.Errorf("counting retained customers of %s %s: %w", tenant, scope, err)
				}
			}
		}
		sums, err := s.toDateSums(ctx, tenant, scope, &td)
		if err != nil {
			return err
		}
		maps.Copy(st.Windows, sums)
		views = append(views, st)
	}
	return s.writeViews(ctx, tenant, now, views)
}
