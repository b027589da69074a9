package importer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cxpulse/cxpulse/pkg/events"
)

// fieldPaths are the fields a column can be mapped to (--map FIELD=COLUMN)
// and the event field each fills; dims.NAME and attrs.NAME are mapped too.
var fieldPaths = map[string]string{
	"id": "id", "occurred_at": "occurred_at", "customer_id": "customer_id", "revision": "revision",
	"type": "type", "metric": "survey.metric", "score": "survey.score", "comment": "survey.comment",
	"ticket_id": "ticket.ticket_id", "category": "ticket.category",
	"first_response_seconds": "ticket.first_response_seconds", "handle_seconds": "ticket.handle_seconds",
	"order_id": "purchase.order_id", "amount": "purchase.amount", "currency": "purchase.currency",
	"referral_code": "purchase.referral_code", "customer_since": "purchase.customer_since",
}

// Mapping says how the rows of a CSV file become events.
type Mapping struct {
	// Tenant is every event's tenant.
	Tenant string
	// Type is every event's type, unless the column mapped to "type" says.
	Type events.Type
	// Metric is every survey's metric, unless the column mapped to
	// "metric" says.
	Metric events.Metric
	// Columns maps fields (see fieldPaths, dims.NAME, attrs.NAME) to the
	// header names of their columns.
	Columns map[string]string
	// TimeFormat is rfc3339, unix, unix_ms or a strftime pattern.
	TimeFormat string
	// Zone is where times without an offset are local; nil when it is
	// unknown, and a time without an offset is then refused (Import).
	// ZoneFrom says where it came from ("--timezone", "the tenants
	// file").
	Zone     *time.Location
	ZoneFrom string
	// IDFormat is IDInteger (17850.0 → 17850) or IDKeep.
	IDFormat string
	// IDColumns, when set, build each row's id from these columns (with
	// the event type and survey metric), for files with no id column:
	// the same row, corrected, keeps its id.
	IDColumns []string
	// IDSuffix is added to every id the file gives (the id column or
	// IDColumns), so that one export read as several metrics or types
	// gives each its own ids.
	IDSuffix string
}

// errRevisionWithoutID refuses a revision mapped with nothing that names
// the event it corrects.
var errRevisionWithoutID = errors.New("revision: a correction replaces the event its id names, but no id is mapped: " +
	"map the column holding each row's id (--map id=COLUMN), or build ids from columns that identify a row and never change in a correction (--id-columns COLUMN,...); " +
	"without either, each row's id is derived from its content, so a corrected row would be a second event")

// ParseMaps reads --map FIELD=COLUMN specs; a field may be mapped once.
func ParseMaps(specs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range specs {
		field, col, ok := strings.Cut(s, "=")
		field = strings.TrimSpace(field)
		if !ok || field == "" || col == "" {
			return nil, fmt.Errorf("--map %q: want FIELD=COLUMN", s)
		}
		if err := checkField(field); err != nil {
			return nil, fmt.Errorf("--map %q: %w", s, err)
		}
		if _, dup := out[field]; dup {
			return nil, fmt.Errorf("--map %q: %s is mapped twice", s, field)
		}
		out[field] = col
	}
	return out, nil
}

func checkField(field string) error {
	if _, ok := fieldPaths[field]; ok {
		return nil
	}
	if name, ok := strings.CutPrefix(field, "dims."); ok && name != "" {
		return nil
	}
	if name, ok := strings.CutPrefix(field, "attrs."); ok && name != "" {
		return nil
	}
	fields := make([]string, 0, len(fieldPaths))
	for f := range fieldPaths {
		fields = append(fields, f)
	}
	slices.Sort(fields)
	return fmt.Errorf("%q is not a field (one of %s, dims.NAME, attrs.NAME)", field, strings.Join(fields, ", "))
}

// binding is a mapping tied to one file's header.
type binding struct {
	m        *Mapping
	col      map[string]int // field → column index
	dims     []named
	attrs    []named
	fixedIDs int
	// fixedExample is the first id written as a decimal, as the file
	// wrote it.
	fixedExample string
	idCols       []int
	headerName   []string
}

type named struct {
	name string
	col  int
}

// bind finds the mapped columns in header; a missing one is an error
// naming it.
func (m *Mapping) bind(header []string) (*binding, error) {
	index := map[string]int{}
	for i, h := range header {
		if _, dup := index[h]; !dup {
			index[h] = i
		}
	}
	b := &binding{m: m, col: map[string]int{}, headerName: header}
	if m.Tenant == "" {
		return nil, fmt.Errorf("tenant: give --tenant for the rows of a CSV file")
	}
	if _, ok := m.Columns["occurred_at"]; !ok {
		return nil, fmt.Errorf("occurred_at: no column mapped (--map occurred_at=COLUMN)")
	}
	if m.Type == "" {
		if _, ok := m.Columns["type"]; !ok {
			return nil, fmt.Errorf("type: give --type, or map a column to it (--map type=COLUMN)")
		}
	}
	_, hasID := m.Columns["id"]
	if _, ok := m.Columns["revision"]; ok && !hasID && len(m.IDColumns) == 0 {
		return nil, errRevisionWithoutID
	}
	if hasID && len(m.IDColumns) > 0 {
		return nil, fmt.Errorf("--id-columns: the id is mapped already (--map id=%s); give one of them", m.Columns["id"])
	}
	var missing []string
	for _, col := range m.IDColumns {
		i, ok := index[col]
		if !ok {
			missing = append(missing, fmt.Sprintf("--id-columns: column %q is not in the header", col))
		}
		b.idCols = append(b.idCols, i)
	}
	for field, col := range m.Columns {
		i, ok := index[col]
		if !ok {
			missing = append(missing, fmt.Sprintf("%s: column %q is not in the header", field, col))
			continue
		}
		switch {
		case strings.HasPrefix(field, "dims."):
			b.dims = append(b.dims, named{strings.TrimPrefix(field, "dims."), i})
		case strings.HasPrefix(field, "attrs."):
			b.attrs = append(b.attrs, named{strings.TrimPrefix(field, "attrs."), i})
		default:
			b.col[field] = i
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("%s (the header has %q)", strings.Join(missing, "; "), header)
	}
	return b, nil
}

// event builds the event of one row, or the problems that keep it from
// being one, each naming the event field and the column.
func (b *binding) event(row []string) (events.Event, []events.Problem) {
	ev, ps := b.fields(row)
	if len(b.idCols) > 0 {
		ev.ID = b.columnsID(&ev, row)
	}
	if ev.ID != "" {
		ev.ID += b.m.IDSuffix
	}
	return ev, ps
}

// fields reads the mapped fields of one row.
func (b *binding) fields(row []string) (events.Event, []events.Problem) {
	var ps []events.Problem
	bad := func(field string, err error) {
		ps = append(ps, events.Problem{Field: fieldPaths[field],
			Reason: fmt.Sprintf("%v (column %q)", err, b.headerName[b.col[field]])})
	}
	get := func(field string) string {
		i, ok := b.col[field]
		if !ok || i >= len(row) {
			return ""
		}
		if field == "comment" {
			return row[i]
		}
		return strings.TrimSpace(row[i])
	}
	id := func(field string) string {
		raw := get(field)
		v, fixed := fixID(raw, b.m.IDFormat)
		if fixed {
			if b.fixedIDs == 0 {
				b.fixedExample = raw
			}
			b.fixedIDs++
		}
		return v
	}
	ev := events.Event{Tenant: b.m.Tenant, Type: b.m.Type, ID: id("id"), CustomerID: id("customer_id")}

	if v := get("type"); v != "" {
		ev.Type = events.Type(v)
	}
	at, err := parseTime(get("occurred_at"), b.m.TimeFormat, b.m.Zone)
	if err != nil {
		bad("occurred_at", err)
	}
	ev.OccurredAt = at
	if v := get("revision"); v != "" {
		n, err := parseInt(v)
		if err != nil {
			bad("revision", err)
		}
		ev.Revision = int64(n)
	}
	ev.Dims = values(row, b.dims, events.NormalDimValue)
	ev.Attrs = values(row, b.attrs, nil)
	num := func(field string) *float64 {
		v := get(field)
		if v == "" {
			return nil
		}
		f, err := parseNumber(v)
		if err != nil {
			bad(field, err)
			return nil
		}
		return &f
	}
	switch {
	case ev.Type == events.TypeSurveyResponse:
		s := &events.Survey{Metric: b.m.Metric, Comment: get("comment")}
		if v := get("metric"); v != "" {
			s.Metric = events.Metric(strings.ToLower(v))
		}
		if v := get("score"); v != "" {
			n, err := parseInt(v)
			if err != nil {
				bad("score", err)
			}
			s.Score = n
		} else {
			ps = append(ps, events.Problem{Field: "survey.score", Reason: "empty"})
		}
		ev.Survey = s
	case strings.HasPrefix(string(ev.Type), "ticket."):
		ev.Ticket = &events.Ticket{TicketID: id("ticket_id"), Category: get("category"),
			FirstResponseSeconds: num("first_response_seconds"), HandleSeconds: num("handle_seconds")}
	case strings.HasPrefix(string(ev.Type), "purchase."):
		p := &events.Purchase{OrderID: id("order_id"), Currency: strings.ToUpper(get("currency")), ReferralCode: get("referral_code")}
		if a := num("amount"); a != nil {
			p.Amount = *a
		}
		if v := get("customer_since"); v != "" {
			since, err := parseTime(v, b.m.TimeFormat, b.m.Zone)
			if err != nil {
				bad("customer_since", err)
			}
			p.CustomerSince = &since
		}
		ev.Purchase = p
	case ev.Type == events.TypeReferralSent:
		ev.Referral = &events.Referral{Code: get("referral_code"), ReferrerID: ev.CustomerID}
	}
	return ev, ps
}

// values reads the named columns of row, leaving out empty ones, each
// through normal when given.
func values(row []string, cols []named, normal func(string) string) map[string]string {
	var out map[string]string
	for _, c := range cols {
		if c.col >= len(row) {
			continue
		}
		if v := strings.TrimSpace(row[c.col]); v != "" {
			if out == nil {
				out = map[string]string{}
			}
			if normal != nil {
				v = normal(v)
			}
			out[c.name] = v
		}
	}
	return out
}

// columnsID is the id --id-columns builds for a row: a hash of the
// tenant, the event type, the survey metric and the chosen columns' values
// (each trimmed, decimal ids written as integers).
func (b *binding) columnsID(ev *events.Event, row []string) string {
	h := sha256.New()
	metric := ""
	if ev.Survey != nil {
		metric = string(ev.Survey.Metric)
	}
	for _, part := range []string{ev.Tenant, string(ev.Type), metric} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	for _, i := range b.idCols {
		v := ""
		if i < len(row) {
			v, _ = fixID(strings.TrimSpace(row[i]), b.m.IDFormat)
		}
		h.Write([]byte(v))
		h.Write([]byte{0})
	}
	return "row-" + hex.EncodeToString(h.Sum(nil)[:16])
}
