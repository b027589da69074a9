// Package views writes the public view of each scope (docs/redis.md) from the
// totals the store's scripts return: the stats of every window and to-date
// period, sent as the fields that changed since this instance's last write
// of that view, and the views a crash left pending written again.
package views

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/mpack"
	"github.com/cxpulse/cxpulse/internal/periodbuckets"
	"github.com/cxpulse/cxpulse/internal/stats"
	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/internal/store/query"
	"github.com/cxpulse/cxpulse/pkg/period"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// Totals is what a script changed in one scope: its new version and
// the new totals of the windows that moved.
type Totals struct {
	Scope   string
	Version int64
	Windows map[string]stats.Counters
	// Active is the number of customers active in the scope now; Retained,
	// per window, those of them whose spell began before the window.
	Active   int64
	Retained map[string]int64
}

// ParseTotals reads the scope totals a script returns, starting at res[i]:
// a count, then per scope name, version, active customers, nwindows and
// (window, packed totals, retained customers).
func ParseTotals(res []any, i int) ([]Totals, error) {
	if i >= len(res) {
		return nil, nil
	}
	n, ok := res[i].(int64)
	if !ok {
		return nil, fmt.Errorf("script answer: scope count is %T", res[i])
	}
	i++
	out := make([]Totals, 0, n)
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
		st := Totals{Scope: name, Version: version, Active: active,
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

// Writer writes views, remembering what it last wrote of each.
type Writer struct {
	rdb      redis.UniversalClient
	reader   *query.Reader
	script   *redis.Script
	windows  []window.Window
	sections []section  // the view's parts: windows, then to-date periods
	fields   [][]string // per section, the view fields of its stats
	mu       sync.Mutex
	cache    map[string]*writtenView // tenant \x00 scope → what this Writer last wrote
	// writer names this Writer's view writes: a view is written as a
	// change to what this Writer last wrote only while it is still that
	// write (another writer's, or a rebuild that started versions again,
	// makes the next write a full one).
	writer string
	// pendingSeen holds, per tenant, the pending views (scope → version)
	// RepairViews saw last.
	pendingSeen map[string]map[string]string
}

// New returns a Writer of the views of the given windows through script
// (the store's writeview.lua).
func New(rdb redis.UniversalClient, script *redis.Script, windows []window.Window) *Writer {
	return &Writer{
		rdb: rdb, reader: query.New(rdb), script: script, windows: windows,
		sections:    viewSections(windows),
		fields:      statFields(viewSections(windows)),
		cache:       map[string]*writtenView{},
		writer:      randomWriter(),
		pendingSeen: map[string]map[string]string{},
	}
}

// UseScript replaces the script views are written through (the store's
// profiler times its sections).
func (w *Writer) UseScript(script *redis.Script) { w.script = script }

// randomWriter returns a name for a Writer's view writes.
func randomWriter() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail on Linux
	return hex.EncodeToString(b[:])
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
func sectionStats(out []stats.Stat, sec section, t *stats.Counters, v *Totals) []stats.Stat {
	if sec.period {
		return stats.AppendPeriod(out, t)
	}
	return stats.AppendWindow(out, t, v.Active, v.Retained[sec.name])
}

// Write writes the views of the scopes a script changed, computed from
// their new totals; a view already at a newer version is left alone. When
// the view in Redis is still the one this instance last wrote, only the
// fields that changed are sent.
func (w *Writer) Write(ctx context.Context, tenant string, now time.Time, views []Totals) error {
	return w.WriteAndMark(ctx, tenant, now, views, nil)
}

// WriteAndMark is Write, and then queues mark's commands with the
// tenant's changed mark, in one round trip.
func (w *Writer) WriteAndMark(ctx context.Context, tenant string, now time.Time, views []Totals, mark func(redis.Pipeliner)) error {
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
	w.mu.Lock()
	for i, v := range views {
		wr := write{scope: v.Scope, version: v.Version, base: w.cache[tenant+"\x00"+v.Scope], vals: make([][]string, len(w.sections))}
		for wi, sec := range w.sections {
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
	w.mu.Unlock()

	// One call writes every view; a view whose base no longer matches is
	// written again in full by a second call.
	for round := 0; round < 2 && len(writes) > 0; round++ {
		ks := make([]string, 0, 1+2*len(writes))
		ks = append(ks, keys.Pending(tenant))
		args := make([]any, 0, 2+len(writes)*64)
		args = append(args, now.UnixMilli(), len(writes), w.writer)
		var sets, dels []any
		for i := range writes {
			wr := &writes[i]
			ks = append(ks, keys.View(tenant, wr.scope), keys.Counters(tenant, wr.scope))
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
						dels = append(dels, w.fields[wi][k])
					} else {
						sets = append(sets, w.fields[wi][k], v)
					}
				}
			}
			args = append(args, wr.scope, wr.version, base, len(sets)/2)
			args = append(args, sets...)
			args = append(args, len(dels))
			args = append(args, dels...)
		}
		res, err := w.script.Run(ctx, w.rdb, ks, args...).Slice()
		if err != nil {
			return fmt.Errorf("writing %d views of tenant %s: %w", len(writes), tenant, err)
		}
		// The answer is, per view, 1 when written, 0 when a newer version
		// is there and -1 when its base did not match.
		var again []write
		w.mu.Lock()
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
				if _, ok := w.cache[key]; !ok && len(w.cache) >= viewCacheSize {
					for k := range w.cache {
						delete(w.cache, k)
						break
					}
				}
				w.cache[key] = &writtenView{seq: wr.version, vals: vals}
			case -1:
				delete(w.cache, key)
				wr.base = nil
				again = append(again, *wr)
			default:
				delete(w.cache, key)
			}
		}
		w.mu.Unlock()
		writes = again
	}
	// The publisher visits the tenants whose views changed.
	return MarkChanged(ctx, w.rdb, tenant, mark)
}

// MarkChanged adds the tenant to the changed tenants the publisher visits,
// with mark's commands (nil for none) in the same round trip.
func MarkChanged(ctx context.Context, rdb redis.UniversalClient, tenant string, mark func(redis.Pipeliner)) error {
	pipe := rdb.Pipeline()
	pipe.SAdd(ctx, keys.ChangedTenants, tenant)
	if mark != nil {
		mark(pipe)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("marking tenant %s changed: %w", tenant, err)
	}
	return nil
}

// RepairViews rewrites the views a crash left pending (their counters
// changed but the view was not written), from the totals in Redis. A scope
// counts as left behind when it is still pending, at the same version, at
// the next call: a view pending for the first time is usually being
// written right now, and is left to its writer. It returns how many
// views it left for the next call.
func (w *Writer) RepairViews(ctx context.Context, tenant string, sys period.System, now time.Time) (int, error) {
	return w.repairViews(ctx, tenant, sys, now, false)
}

// FlushPendingViews rewrites now every view of the tenant left pending.
// The applier calls it when a slice turns out to be applied already: the
// earlier attempt's answer was lost (a timeout, a dropped connection), so
// its views may not have been written, and the offsets must not be
// committed before they are.
func (w *Writer) FlushPendingViews(ctx context.Context, tenant string, sys period.System, now time.Time) error {
	_, err := w.repairViews(ctx, tenant, sys, now, true)
	return err
}

func (w *Writer) repairViews(ctx context.Context, tenant string, sys period.System, now time.Time, all bool) (int, error) {
	marks, err := w.rdb.HGetAll(ctx, keys.Pending(tenant)).Result()
	if err != nil {
		return 0, fmt.Errorf("reading pending views of %s: %w", tenant, err)
	}
	w.mu.Lock()
	seen := w.pendingSeen[tenant]
	w.pendingSeen[tenant] = marks
	w.mu.Unlock()
	var pending []string
	for scope, version := range marks {
		if all || seen[scope] == version {
			pending = append(pending, scope)
		}
	}
	left := len(marks) - len(pending)
	if len(pending) == 0 {
		return left, nil
	}
	views := make([]Totals, 0, len(pending))
	td := periodbuckets.ToDateOf(sys, now)
	for _, scope := range pending {
		fields := []string{"v"}
		for _, win := range w.windows {
			fields = append(fields, win.Name+":t")
		}
		vals, err := w.rdb.HMGet(ctx, keys.Counters(tenant, scope), fields...).Result()
		if err != nil {
			return 0, fmt.Errorf("reading totals of %s %s: %w", tenant, scope, err)
		}
		version, _ := strconv.ParseInt(fmt.Sprint(vals[0]), 10, 64)
		st := Totals{Scope: scope, Version: version, Windows: map[string]stats.Counters{}, Retained: map[string]int64{}}
		if st.Active, err = w.rdb.ZCard(ctx, keys.Active(tenant, scope)).Result(); err != nil {
			return 0, fmt.Errorf("counting active customers of %s %s: %w", tenant, scope, err)
		}
		for i, win := range w.windows {
			packed, _ := vals[i+1].(string)
			c, err := mpack.UnpackCounters([]byte(packed))
			if err != nil {
				return 0, fmt.Errorf("totals of %s %s %s: %w", tenant, scope, win.Name, err)
			}
			st.Windows[win.Name] = c
			if st.Active > 0 {
				before := strconv.FormatInt(win.Begins(now).UnixMilli(), 10)
				if st.Retained[win.Name], err = w.rdb.ZCount(ctx, keys.Active(tenant, scope), "-inf", "("+before).Result(); err != nil {
					return 0, fmt.Errorf("counting retained customers of %s %s: %w", tenant, scope, err)
				}
			}
		}
		sums, err := w.reader.ToDateSums(ctx, tenant, scope, &td)
		if err != nil {
			return 0, err
		}
		maps.Copy(st.Windows, sums)
		views = append(views, st)
	}
	return left, w.Write(ctx, tenant, now, views)
}
