package events

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// ErrMalformed is wrapped by Decode when the input is not JSON at all.
var ErrMalformed = errors.New("malformed JSON")

// Mode selects how a Decoder treats fields it does not know.
type Mode uint8

const (
	// Strict rejects unknown fields, each named by its path (for ingest:
	// typos must not pass).
	Strict Mode = iota + 1
	// Tolerant ignores unknown fields and reports their paths, so producers
	// can upgrade before consumers (for the aggregator).
	Tolerant
)

// Decoder decodes and validates events. It reuses its parse buffers, so a
// Decoder must not be used by several goroutines at once; the zero value is
// not usable, call NewDecoder.
type Decoder struct {
	mode   Mode
	p      fastjson.Parser
	intern map[string]string
}

// Interning: short strings that repeat from event to event (types,
// tenants, metrics, dims) are allocated once per Decoder.
const (
	maxInterned   = 64
	maxInternSize = 4096
)

// NewDecoder returns a Decoder in the given mode.
func NewDecoder(mode Mode) *Decoder {
	return &Decoder{mode: mode, intern: make(map[string]string, 256)}
}

// Decode parses one JSON event and validates it. It returns an error
// wrapping ErrMalformed when data is not JSON, a *ValidationError listing
// every problem when the event breaks the contract, and, in Tolerant mode,
// the paths of the fields it ignored.
func (d *Decoder) Decode(data []byte) (ev Event, unknown []string, err error) {
	v, perr := d.p.ParseBytes(data)
	if perr != nil {
		return Event{}, nil, fmt.Errorf("%w: %s", ErrMalformed, ParseErrorText(perr))
	}
	s := decodeState{strict: d.mode == Strict, intern: d.intern}
	if v.Type() != fastjson.TypeObject {
		s.problems.add("", "an event must be a JSON object")
		return Event{}, nil, s.problems.err()
	}
	s.event(v, &ev)
	if lone := loneSurrogates(data); len(lone) > 0 {
		s.loneSurrogates(&ev, lone)
	}
	if len(s.problems) == 0 {
		ev.validate(&s.problems)
	} else {
		var more problems
		ev.validate(&more)
		for _, p := range more {
			if !s.hasProblem(p.Field) {
				s.problems = append(s.problems, p)
			}
		}
	}
	return ev, s.unknown, s.problems.err()
}

// decodeState walks one parsed event, recording type problems, presence
// problems and unknown fields. Value rules are left to Event.validate.
type decodeState struct {
	strict   bool
	intern   map[string]string
	problems problems
	unknown  []string
}

// internBytes returns b as a string, reusing an earlier allocation of the
// same short string.
func (s *decodeState) internBytes(b []byte) string {
	if v, ok := s.intern[string(b)]; ok {
		return v
	}
	str := string(b)
	if len(b) <= maxInterned && len(s.intern) < maxInternSize {
		s.intern[str] = str
	}
	return str
}

// loneSurrogates names the fields of ev that hold one of the escapes
// lone: half of a UTF-16 surrogate pair, which is no character.
func (s *decodeState) loneSurrogates(ev *Event, lone []string) {
	start := len(s.problems)
	defer s.problems.sortFrom(start)
	ev.textFields(func(field, value string) {
		for _, esc := range lone {
			if strings.Contains(value, esc) {
				s.problems.add(field, "holds %s, half of a UTF-16 surrogate pair without the other half: no character", esc)
				return
			}
		}
	})
}

func (s *decodeState) hasProblem(field string) bool {
	for _, p := range s.problems {
		if p.Field == field {
			return true
		}
	}
	return false
}

func (s *decodeState) unknownField(path string) {
	if s.strict {
		s.problems.add(path, "unknown field")
		return
	}
	s.unknown = append(s.unknown, path)
}

// fields tracks which keys of one object were seen, to reject duplicates.
type fields uint32

func (s *decodeState) seen(f *fields, bit uint, path string) bool {
	if *f&(1<<bit) != 0 {
		s.problems.add(path, "duplicate field")
		return true
	}
	*f |= 1 << bit
	return false
}

func (s *decodeState) object(v *fastjson.Value, path string) *fastjson.Object {
	o, err := v.Object()
	if err != nil {
		s.problems.add(path, "must be a JSON object")
		return nil
	}
	return o
}

func (s *decodeState) event(v *fastjson.Value, ev *Event) {
	o, _ := v.Object()
	var seen fields
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "id":
			if !s.seen(&seen, 0, "id") {
				ev.ID = s.str(v, "id", false)
			}
		case "type":
			if !s.seen(&seen, 1, "type") {
				ev.Type = Type(s.strInterned(v, "type", false))
			}
		case "tenant":
			if !s.seen(&seen, 2, "tenant") {
				ev.Tenant = s.strInterned(v, "tenant", false)
			}
		case "occurred_at":
			if !s.seen(&seen, 3, "occurred_at") {
				ev.OccurredAt = s.timestamp(v, "occurred_at")
			}
		case "revision":
			if !s.seen(&seen, 4, "revision") {
				ev.Revision = s.integer(v, "revision")
			}
		case "customer_id":
			if !s.seen(&seen, 5, "customer_id") {
				ev.CustomerID = s.str(v, "customer_id", true)
			}
		case "dims":
			if !s.seen(&seen, 6, "dims") {
				ev.Dims = s.stringMap(v, "dims", true)
			}
		case "attrs":
			if !s.seen(&seen, 7, "attrs") {
				ev.Attrs = s.stringMap(v, "attrs", false)
			}
		case "survey":
			if !s.seen(&seen, 8, "survey") {
				ev.Survey = s.survey(v)
			}
		case "ticket":
			if !s.seen(&seen, 9, "ticket") {
				ev.Ticket = s.ticket(v)
			}
		case "purchase":
			if !s.seen(&seen, 10, "purchase") {
				ev.Purchase = s.purchase(v)
			}
		case "referral":
			if !s.seen(&seen, 11, "referral") {
				ev.Referral = s.referral(v)
			}
		default:
			s.unknownField(string(k))
		}
	})
}

func (s *decodeState) survey(v *fastjson.Value) *Survey {
	o := s.object(v, "survey")
	if o == nil {
		return nil
	}
	var out Survey
	var seen fields
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "metric":
			if !s.seen(&seen, 0, "survey.metric") {
				out.Metric = Metric(s.strInterned(v, "survey.metric", false))
			}
		case "score":
			if !s.seen(&seen, 1, "survey.score") {
				out.Score = int(s.integer(v, "survey.score"))
			}
		case "comment":
			if !s.seen(&seen, 2, "survey.comment") {
				out.Comment = s.str(v, "survey.comment", false)
			}
		default:
			s.unknownField("survey." + string(k))
		}
	})
	if seen&(1<<1) == 0 {
		s.problems.add("survey.score", "required")
	}
	return &out
}

func (s *decodeState) ticket(v *fastjson.Value) *Ticket {
	o := s.object(v, "ticket")
	if o == nil {
		return nil
	}
	var out Ticket
	var seen fields
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "ticket_id":
			if !s.seen(&seen, 0, "ticket.ticket_id") {
				out.TicketID = s.str(v, "ticket.ticket_id", false)
			}
		case "category":
			if !s.seen(&seen, 1, "ticket.category") {
				out.Category = s.strInterned(v, "ticket.category", true)
			}
		case "first_response_seconds":
			if !s.seen(&seen, 2, "ticket.first_response_seconds") {
				f := s.number(v, "ticket.first_response_seconds")
				out.FirstResponseSeconds = &f
			}
		case "handle_seconds":
			if !s.seen(&seen, 3, "ticket.handle_seconds") {
				f := s.number(v, "ticket.handle_seconds")
				out.HandleSeconds = &f
			}
		default:
			s.unknownField("ticket." + string(k))
		}
	})
	return &out
}

func (s *decodeState) purchase(v *fastjson.Value) *Purchase {
	o := s.object(v, "purchase")
	if o == nil {
		return nil
	}
	var out Purchase
	var seen fields
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "order_id":
			if !s.seen(&seen, 0, "purchase.order_id") {
				out.OrderID = s.str(v, "purchase.order_id", false)
			}
		case "amount":
			if !s.seen(&seen, 1, "purchase.amount") {
				out.Amount = s.number(v, "purchase.amount")
			}
		case "currency":
			if !s.seen(&seen, 2, "purchase.currency") {
				out.Currency = s.strInterned(v, "purchase.currency", true)
			}
		case "referral_code":
			if !s.seen(&seen, 3, "purchase.referral_code") {
				out.ReferralCode = s.str(v, "purchase.referral_code", true)
			}
		case "customer_since":
			if !s.seen(&seen, 4, "purchase.customer_since") {
				t := s.timestamp(v, "purchase.customer_since")
				out.CustomerSince = &t
			}
		default:
			s.unknownField("purchase." + string(k))
		}
	})
	if seen&(1<<1) == 0 {
		s.problems.add("purchase.amount", "required")
	}
	return &out
}

func (s *decodeState) referral(v *fastjson.Value) *Referral {
	o := s.object(v, "referral")
	if o == nil {
		return nil
	}
	var out Referral
	var seen fields
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "code":
			if !s.seen(&seen, 0, "referral.code") {
				out.Code = s.str(v, "referral.code", false)
			}
		case "referrer_id":
			if !s.seen(&seen, 1, "referral.referrer_id") {
				out.ReferrerID = s.str(v, "referral.referrer_id", false)
			}
		default:
			s.unknownField("referral." + string(k))
		}
	})
	return &out
}

// str reads a JSON string. With nonEmpty, an empty string is a problem: an
// optional field, when present, must hold something.
func (s *decodeState) str(v *fastjson.Value, path string, nonEmpty bool) string {
	b, ok := s.strBytes(v, path, nonEmpty)
	if !ok {
		return ""
	}
	return string(b)
}

// strInterned is str for strings that repeat across events.
func (s *decodeState) strInterned(v *fastjson.Value, path string, nonEmpty bool) string {
	b, ok := s.strBytes(v, path, nonEmpty)
	if !ok {
		return ""
	}
	return s.internBytes(b)
}

func (s *decodeState) strBytes(v *fastjson.Value, path string, nonEmpty bool) ([]byte, bool) {
	b, err := v.StringBytes()
	if err != nil {
		s.problems.add(path, "must be a string")
		return nil, false
	}
	if !utf8.Valid(b) {
		s.problems.add(path, "must be valid UTF-8")
		return nil, false
	}
	if nonEmpty && len(b) == 0 {
		s.problems.add(path, "must not be empty when present")
	}
	return b, true
}

func (s *decodeState) timestamp(v *fastjson.Value, path string) time.Time {
	b, err := v.StringBytes()
	if err != nil {
		s.problems.add(path, "must be an RFC 3339 timestamp string")
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		s.problems.add(path, "%q is not an RFC 3339 timestamp", b)
		return time.Time{}
	}
	return t
}

// integer reads a JSON number that holds a whole value (9 and 9.0 alike, as
// JSON Schema's "integer" does).
func (s *decodeState) integer(v *fastjson.Value, path string) int64 {
	if v.Type() != fastjson.TypeNumber {
		s.problems.add(path, "must be an integer")
		return 0
	}
	if n, err := v.Int64(); err == nil {
		return n
	}
	f, err := v.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		s.problems.add(path, "%s is not an integer", v.MarshalTo(nil))
		return 0
	}
	return int64(f)
}

func (s *decodeState) number(v *fastjson.Value, path string) float64 {
	if v.Type() != fastjson.TypeNumber {
		s.problems.add(path, "must be a number")
		return 0
	}
	f, err := v.Float64()
	if err != nil || math.IsInf(f, 0) {
		s.problems.add(path, "%s is not a finite number", v.MarshalTo(nil))
		return 0
	}
	return f
}

// stringMap reads an object of strings; with intern, its keys and values
// are interned (for dims, whose values repeat).
func (s *decodeState) stringMap(v *fastjson.Value, path string, intern bool) map[string]string {
	o := s.object(v, path)
	if o == nil {
		return nil
	}
	m := make(map[string]string, o.Len())
	o.Visit(func(k []byte, v *fastjson.Value) {
		if _, dup := m[string(k)]; dup {
			s.problems.add(path+"."+string(k), "duplicate field")
			return
		}
		key := s.internBytes(k)
		b, err := v.StringBytes()
		switch {
		case err != nil:
			s.problems.add(path+"."+key, "must be a string")
			m[key] = ""
		case !utf8.Valid(b):
			s.problems.add(path+"."+key, "must be valid UTF-8")
			m[key] = ""
		case intern:
			m[key] = s.internBytes(b)
		default:
			m[key] = string(b)
		}
		if path == "dims" {
			m[key] = NormalDimValue(m[key])
		}
	})
	return m
}
