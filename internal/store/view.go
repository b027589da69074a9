package store

import (
	"context"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/cxpulse/cxpulse/pkg/window"
)

//go:embed writeview.lua
var writeViewLua string

// ScopeTotals is what a script changed in one scope: its new version and
// the new totals of the windows that moved.
type ScopeTotals struct {
	Scope   string
	Version int64
	Windows map[string]Counters
	// Active is the number of customers active in the scope now; Retained,
	// per window, those of them whose spell began before the window.
	Active   int64
	Retained map[string]int64
}

func pendingKey(tenant string) string { return tenantKey(tenant, "vpend") }

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
			Windows: make(map[string]Counters, nw), Retained: make(map[string]int64, nw)}
		for range nw {
			w, _ := res[i].(string)
			packed, _ := res[i+1].(string)
			c, err := unpackCounters([]byte(packed))
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

// unpackCounters reads a MessagePack array of numbers as written by Lua's
// cmsgpack (integers of every width, float32 and float64).
func unpackCounters(b []byte) (Counters, error) {
	var c Counters
	if len(b) == 0 {
		return c, nil
	}
	var n int
	switch t := b[0]; {
	case t&0xf0 == 0x90:
		n, b = int(t&0x0f), b[1:]
	case t == 0xdc && len(b) >= 3:
		n, b = int(binary.BigEndian.Uint16(b[1:])), b[3:]
	default:
		return c, fmt.Errorf("not a MessagePack array: %#x", t)
	}
	if n > len(c) {
		return c, fmt.Errorf("%d counters, want at most %d", n, len(c))
	}
	for i := range n {
		if len(b) == 0 {
			return c, errors.New("truncated")
		}
		t := b[0]
		need := payloadSize(t)
		if len(b) < 1+need {
			return c, errors.New("truncated")
		}
		p := b[1 : 1+need]
		switch {
		case t <= 0x7f:
			c[i] = float64(t)
		case t >= 0xe0:
			c[i] = float64(int8(t))
		case t == 0xcc:
			c[i] = float64(p[0])
		case t == 0xcd:
			c[i] = float64(binary.BigEndian.Uint16(p))
		case t == 0xce:
			c[i] = float64(binary.BigEndian.Uint32(p))
		case t == 0xcf:
			c[i] = float64(binary.BigEndian.Uint64(p))
		case t == 0xd0:
			c[i] = float64(int8(p[0]))
		case t == 0xd1:
			c[i] = float64(int16(binary.BigEndian.Uint16(p)))
		case t == 0xd2:
			c[i] = float64(int32(binary.BigEndian.Uint32(p)))
		case t == 0xd3:
			c[i] = float64(int64(binary.BigEndian.Uint64(p)))
		case t == 0xca:
			c[i] = float64(math.Float32frombits(binary.BigEndian.Uint32(p)))
		case t == 0xcb:
			c[i] = math.Float64frombits(binary.BigEndian.Uint64(p))
		default:
			return c, fmt.Errorf("unexpected MessagePack type %#x", t)
		}
		b = b[1+need:]
	}
	return c, nil
}

// payloadSize is the number of bytes following a MessagePack number's
// type byte.
func payloadSize(t byte) int {
	switch t {
	case 0xcc, 0xd0:
		return 1
	case 0xcd, 0xd1:
		return 2
	case 0xce, 0xd2, 0xca:
		return 4
	case 0xcf, 0xd3, 0xcb:
		return 8
	}
	return 0
}

// stat is one public stat of a window: its name and its value, "" when it
// is undefined (a ratio whose denominator is 0) and its field deleted.
type stat struct{ name, value string }

// windowStats appends the public stats of one window (DESIGN §3) computed
// from its totals, always the same stats in the same order. Counts are
// integers; other values the shortest decimal that reads back as the same
// float64.
func windowStats(t *Counters, active, retained int64, out []stat) []stat {
	count := func(name string, v float64) {
		out = append(out, stat{name, strconv.FormatFloat(v, 'f', -1, 64)})
	}
	value := func(name string, defined bool, v float64) {
		if defined {
			out = append(out, stat{name, strconv.FormatFloat(v, 'g', -1, 64)})
		} else {
			out = append(out, stat{name, ""})
		}
	}
	ratio := func(name string, num, den, scale float64) {
		if den > 0 {
			value(name, true, scale*num/den)
		} else {
			value(name, false, 0)
		}
	}
	n, p, d := t[NPSResponses], t[NPSPromoters], t[NPSDetractors]
	count("nps_responses", n)
	count("nps_promoters", p)
	count("nps_passives", n-p-d)
	count("nps_detractors", d)
	ratio("nps", p-d, n, 100)
	if n > 0 {
		P, D := p/n, d/n
		value("nps_moe95", true, 1.96*100*math.Sqrt(max(0, ((P+D)-(P-D)*(P-D))/n)))
	} else {
		value("nps_moe95", false, 0)
	}
	ratio("detractor_share", d, n, 100)
	count("csat_responses", t[CSATResponses])
	count("csat_satisfied", t[CSATSatisfied])
	ratio("csat", t[CSATSatisfied], t[CSATResponses], 100)
	ratio("csat_mean", t[CSATSum], t[CSATResponses], 1)
	count("ces_responses", t[CESResponses])
	count("ces_easy", t[CESEasy])
	ratio("ces", t[CESSum], t[CESResponses], 1)
	ratio("ces_easy_share", t[CESEasy], t[CESResponses], 100)
	count("tickets_opened", t[TicketsOpened])
	count("tickets_resolved", t[TicketsResolved])
	count("tickets_reopened", t[TicketsReopened])
	ratio("ticket_first_response_avg_s", t[FirstResponseMs], t[FirstResponseN], 0.001)
	ratio("ticket_handle_avg_s", t[HandleMs], t[HandleN], 0.001)
	ratio("ticket_reopen_rate", t[TicketsReopened], t[TicketsResolved], 100)

	purchases, gross := t[Purchases], t[GrossAmount]/AmountScale
	count("purchases", purchases)
	count("refunds", t[Refunds])
	count("revenue", (t[GrossAmount]-t[RefundedAmount])/AmountScale)
	ratio("atv", gross, purchases, 1)
	buyers, fresh, referred := t[Purchasers], t[CustomersNew], t[ReferredNew]
	count("customers_purchasing", buyers)
	count("customers_new", fresh)
	ratio("repeat_purchase_rate", buyers-fresh, buyers, 100)
	count("referrals_sent", t[ReferralsSent])
	count("referral_conversions", referred)
	ratio("referral_conversion_rate", referred, t[ReferralsSent], 100)
	ratio("referral_new_customer_share", referred, fresh, 100)
	act := float64(active)
	atStart := act - t[Activations] + t[Losses]
	lost := atStart - float64(retained)
	count("customers_active", act)
	count("customers_activated", t[Activations])
	count("losses", t[Losses])
	count("customers_at_start", atStart)
	count("customers_retained", float64(retained))
	count("customers_lost", lost)
	ratio("churn_rate", lost, atStart, 100)
	ratio("retention_rate", float64(retained), atStart, 100)
	if purchases > 0 && buyers > 0 && lost > 0 {
		value("clv", true, gross/purchases*(purchases/buyers)*(atStart/lost))
	} else {
		value("clv", false, 0)
	}
	return out
}

// SpellsBefore returns the instant (unix ms) before which an activity
// spell began outside window w at now: the start of the window's first
// bucket. The scripts compute the same.
func SpellsBefore(w window.Window, now time.Time) int64 {
	first, _ := w.Span(now)
	return w.Start(first).UnixMilli()
}

// writtenView is what this instance last wrote to a view: its version and,
// per window, the values of its stats in windowStats order ("" for a
// deleted field; nil for a window not written). Never changed once cached.
type writtenView struct {
	seq  int64
	vals [][]string
}

// viewCacheSize bounds the views remembered; beyond it a view is written
// in full.
const viewCacheSize = 8192

// statFields returns, per window, the view field names of the stats in
// windowStats order ("7d:nps", …).
func statFields(windows []window.Window) [][]string {
	stats := windowStats(&Counters{}, 0, 0, nil)
	out := make([][]string, len(windows))
	for wi, w := range windows {
		for _, st := range stats {
			out[wi] = append(out[wi], w.Name+":"+st.name)
		}
	}
	return out
}

// WriteViews writes the views of the scopes a script changed, computed from
// their new totals; a view already at a newer version is left alone. When
// the view in Redis is still the one this instance last wrote, only the
// fields that changed are sent.
func (s *Store) WriteViews(ctx context.Context, tenant string, now time.Time, views []ScopeTotals) error {
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
	var stats []stat
	s.viewsMu.Lock()
	for i, v := range views {
		wr := write{scope: v.Scope, version: v.Version, base: s.views[tenant+"\x00"+v.Scope], vals: make([][]string, len(s.windows))}
		for wi, w := range s.windows {
			if t, ok := v.Windows[w.Name]; ok {
				stats = windowStats(&t, v.Active, v.Retained[w.Name], stats[:0])
				vals := make([]string, len(stats))
				for k := range stats {
					vals[k] = stats[k].value
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
		keys := make([]string, 0, 1+len(writes))
		keys = append(keys, pendingKey(tenant))
		args := make([]any, 0, 2+len(writes)*64)
		args = append(args, now.UnixMilli(), len(writes))
		var sets, dels []any
		for i := range writes {
			wr := &writes[i]
			keys = append(keys, ViewKey(tenant, wr.scope))
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
func (s *Store) RepairViews(ctx context.Context, tenant string, now time.Time) error {
	marks, err := s.rdb.HGetAll(ctx, pendingKey(tenant)).Result()
	if err != nil {
		return err
	}
	s.viewsMu.Lock()
	seen := s.pendingSeen[tenant]
	s.pendingSeen[tenant] = marks
	s.viewsMu.Unlock()
	var pending []string
	for scope, version := range marks {
		if seen[scope] == version {
			pending = append(pending, scope)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	views := make([]ScopeTotals, 0, len(pending))
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
		st := ScopeTotals{Scope: scope, Version: version, Windows: map[string]Counters{}, Retained: map[string]int64{}}
		if st.Active, err = s.rdb.ZCard(ctx, activeKey(tenant, scope)).Result(); err != nil {
			return fmt.Errorf("counting active customers of %s %s: %w", tenant, scope, err)
		}
		for i, w := range s.windows {
			packed, _ := vals[i+1].(string)
			c, err := unpackCounters([]byte(packed))
			if err != nil {
				return fmt.Errorf("totals of %s %s %s: %w", tenant, scope, w.Name, err)
			}
			st.Windows[w.Name] = c
			if st.Active > 0 {
				before := strconv.FormatInt(SpellsBefore(w, now), 10)
				if st.Retained[w.Name], err = s.rdb.ZCount(ctx, activeKey(tenant, scope), "-inf", "("+before).Result(); err != nil {
					return fmt.Errorf("counting retained customers of %s %s: %w", tenant, scope, err)
				}
			}
		}
		views = append(views, st)
	}
	return s.WriteViews(ctx, tenant, now, views)
}
