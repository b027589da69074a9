package events

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits of the event contract.
const (
	MaxIDLen         = 128
	MaxTenantLen     = 64
	MaxDims          = 16
	MaxDimKeyLen     = 32
	MaxDimValueLen   = 64
	MaxAttrs         = 32
	MaxAttrKeyLen    = 128
	MaxAttrValueLen  = 256
	MaxCommentLen    = 4000
	MaxCategoryLen   = 128
	MaxReferralCode  = 128
	currencyCodeSize = 3
	// MaxAmount is the largest purchase amount, in the currency: room for
	// a purchase in currencies of small units (rials, won), and counted
	// exactly to 1/10000.
	MaxAmount = 1e11
	// MaxSeconds is the largest first_response_seconds or handle_seconds
	// (about 31 years).
	MaxSeconds = 1e9
)

// Problem is one reason an event is invalid: the JSON path of the field and
// a plain-language reason.
type Problem struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (p Problem) String() string {
	if p.Field == "" {
		return p.Reason
	}
	return p.Field + ": " + p.Reason
}

// ValidationError lists every problem found in one event.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return strings.Join(parts, "; ")
}

// problems collects Problems in the order found.
type problems []Problem

func (ps *problems) add(field, format string, args ...any) {
	*ps = append(*ps, Problem{Field: field, Reason: fmt.Sprintf(format, args...)})
}

// sortFrom orders the problems from index start on by field, so that
// problems found while ranging over a map come out in a stable order.
func (ps *problems) sortFrom(start int) {
	if len(*ps)-start > 1 {
		slices.SortStableFunc((*ps)[start:], func(a, b Problem) int { return strings.Compare(a.Field, b.Field) })
	}
}

func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps}
}

// Validate checks every rule of the contract that can be checked on the
// event alone and returns a *ValidationError listing each problem, or nil.
// Rules that need tenant settings (reporting currency, known tenants) are
// left to the caller.
func (e *Event) Validate() error {
	var ps problems
	e.validate(&ps)
	return ps.err()
}

func (e *Event) validate(ps *problems) {
	checkText(ps, "id", e.ID, MaxIDLen, true)
	switch {
	case e.Type == "":
		ps.add("type", "required")
	case !e.Type.Known():
		ps.add("type", "%q is not one of %s", e.Type, typeList())
	}
	if e.Tenant == "" {
		ps.add("tenant", "required")
	} else if !validTenant(e.Tenant) {
		ps.add("tenant", "%q must match [a-z0-9][a-z0-9_-]{0,63}", e.Tenant)
	}
	if e.OccurredAt.IsZero() {
		ps.add("occurred_at", "required")
	}
	if e.Revision < 0 {
		ps.add("revision", "%d must be 0 or more", e.Revision)
	}
	if e.Type.needsCustomer() && e.CustomerID == "" {
		ps.add("customer_id", "required for %s", e.Type)
	} else if e.CustomerID != "" {
		checkText(ps, "customer_id", e.CustomerID, MaxIDLen, true)
	}
	validateDims(ps, e.Dims)
	validateAttrs(ps, e.Attrs)
	e.validatePayload(ps)
	e.validateControls(ps)
}

// validateControls refuses control characters: any in an identifier (a
// NUL in an id would reach logs, keys and headers), any but tab, line feed
// and carriage return in free text.
func (e *Event) validateControls(ps *problems) {
	start := len(*ps)
	defer ps.sortFrom(start)
	e.textFields(func(field, value string) {
		if r, ok := controlIn(value, freeText(field)); ok {
			ps.add(field, "holds the control character %U", r)
		}
	})
}

// validatePayload checks that exactly the payload object of e's type is set
// and that it is valid for that type.
func (e *Event) validatePayload(ps *problems) {
	if !e.Type.Known() {
		return
	}
	want := payloadOf(e.Type)
	for _, p := range []struct {
		name string
		set  bool
	}{
		{"survey", e.Survey != nil},
		{"ticket", e.Ticket != nil},
		{"purchase", e.Purchase != nil},
		{"referral", e.Referral != nil},
	} {
		switch {
		case p.name == want && !p.set:
			ps.add(p.name, "required for %s", e.Type)
		case p.name != want && p.set:
			ps.add(p.name, "not allowed on %s", e.Type)
		}
	}
	switch {
	case e.Survey != nil && want == "survey":
		e.Survey.validate(ps)
	case e.Ticket != nil && want == "ticket":
		e.Ticket.validate(ps, e.Type)
	case e.Purchase != nil && want == "purchase":
		e.Purchase.validate(ps, e.Type, e.OccurredAt)
	case e.Referral != nil && want == "referral":
		e.Referral.validate(ps, e.CustomerID)
	}
}

func payloadOf(t Type) string {
	switch t {
	case TypeSurveyResponse:
		return "survey"
	case TypeTicketOpened, TypeTicketResolved, TypeTicketReopened:
		return "ticket"
	case TypePurchaseCompleted, TypePurchaseRefunded:
		return "purchase"
	case TypeReferralSent:
		return "referral"
	}
	return ""
}

func (s *Survey) validate(ps *problems) {
	lo, hi, ok := s.Metric.Range()
	switch {
	case s.Metric == "":
		ps.add("survey.metric", "required")
	case !ok:
		ps.add("survey.metric", "%q is not one of nps, csat, ces", s.Metric)
	case s.Score < lo || s.Score > hi:
		ps.add("survey.score", "%d is outside %d-%d for %s", s.Score, lo, hi, s.Metric)
	}
	if n := utf8.RuneCountInString(s.Comment); n > MaxCommentLen {
		ps.add("survey.comment", "%d characters is more than %d", n, MaxCommentLen)
	}
	if !utf8.ValidString(s.Comment) {
		ps.add("survey.comment", "must be valid UTF-8")
	}
}

func (t *Ticket) validate(ps *problems, typ Type) {
	checkText(ps, "ticket.ticket_id", t.TicketID, MaxIDLen, true)
	checkText(ps, "ticket.category", t.Category, MaxCategoryLen, false)
	for _, d := range []struct {
		field string
		v     *float64
	}{
		{"ticket.first_response_seconds", t.FirstResponseSeconds},
		{"ticket.handle_seconds", t.HandleSeconds},
	} {
		switch {
		case d.v == nil:
		case typ != TypeTicketResolved:
			ps.add(d.field, "only allowed on ticket.resolved")
		default:
			checkNumber(ps, d.field, *d.v, MaxSeconds)
		}
	}
}

func (p *Purchase) validate(ps *problems, typ Type, at time.Time) {
	checkText(ps, "purchase.order_id", p.OrderID, MaxIDLen, true)
	if p.CustomerSince != nil {
		switch {
		case typ != TypePurchaseCompleted:
			ps.add("purchase.customer_since", "only allowed on purchase.completed")
		case p.CustomerSince.After(at):
			ps.add("purchase.customer_since", "%s is after occurred_at %s", p.CustomerSince.Format(time.RFC3339), at.Format(time.RFC3339))
		}
	}
	checkNumber(ps, "purchase.amount", p.Amount, MaxAmount)
	if p.Currency != "" && !ValidCurrency(p.Currency) {
		ps.add("purchase.currency", "%q is not an ISO 4217 code (three capital letters)", p.Currency)
	}
	if p.ReferralCode != "" {
		if typ != TypePurchaseCompleted {
			ps.add("purchase.referral_code", "only allowed on purchase.completed")
		} else {
			checkText(ps, "purchase.referral_code", p.ReferralCode, MaxReferralCode, true)
		}
	}
}

func (r *Referral) validate(ps *problems, customerID string) {
	checkText(ps, "referral.code", r.Code, MaxReferralCode, true)
	checkText(ps, "referral.referrer_id", r.ReferrerID, MaxIDLen, true)
	if r.ReferrerID != "" && customerID != "" && r.ReferrerID != customerID {
		ps.add("referral.referrer_id", "%q must equal customer_id %q", r.ReferrerID, customerID)
	}
}

func validateDims(ps *problems, dims map[string]string) {
	if len(dims) > MaxDims {
		ps.add("dims", "%d entries is more than %d", len(dims), MaxDims)
	}
	start := len(*ps)
	defer ps.sortFrom(start)
	for k, v := range dims {
		if !validDimKey(k) {
			ps.add("dims."+k, "key must match [a-z][a-z0-9_]{0,31}")
			continue
		}
		n := utf8.RuneCountInString(v)
		switch {
		case n == 0:
			ps.add("dims."+k, "must not be empty")
		case n > MaxDimValueLen:
			ps.add("dims."+k, "%d characters is more than %d", n, MaxDimValueLen)
		case !validDimValue(v):
			ps.add("dims."+k, "%q may only hold letters, digits, spaces, punctuation and symbols, in NFC, without control characters or = , + { }", v)
		}
	}
}

func validateAttrs(ps *problems, attrs map[string]string) {
	if len(attrs) > MaxAttrs {
		ps.add("attrs", "%d entries is more than %d", len(attrs), MaxAttrs)
	}
	start := len(*ps)
	defer ps.sortFrom(start)
	for k, v := range attrs {
		if n := utf8.RuneCountInString(k); n == 0 || n > MaxAttrKeyLen || !utf8.ValidString(k) {
			ps.add("attrs", "key %q must be 1-%d characters of valid UTF-8", k, MaxAttrKeyLen)
			continue
		}
		checkText(ps, "attrs."+k, v, MaxAttrValueLen, false)
	}
}

// checkText checks a string's length in characters and its encoding.
func checkText(ps *problems, field, s string, max int, required bool) {
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0 && required:
		ps.add(field, "required")
	case n > max:
		ps.add(field, "%d characters is more than %d", n, max)
	case !utf8.ValidString(s):
		ps.add(field, "must be valid UTF-8")
	}
}

// checkNumber checks a summed quantity: finite, from 0 to max, so that no
// sum or sum of squares of it can overflow.
func checkNumber(ps *problems, field string, v, max float64) {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		ps.add(field, "must be a finite number")
	case v < 0:
		ps.add(field, "%v must be 0 or more", v)
	case v > max:
		ps.add(field, "%v is more than the largest allowed, %v", v, max)
	}
}

func validTenant(s string) bool {
	if len(s) == 0 || len(s) > MaxTenantLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// ValidTenant reports whether s is a well-formed tenant name.
func ValidTenant(s string) bool { return validTenant(s) }

func validDimKey(s string) bool {
	if len(s) == 0 || len(s) > MaxDimKeyLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// validDimValue reports whether s may be a dims value: letters, marks,
// digits, spaces, punctuation and symbols of any script (Persian's
// zero-width non-joiner included), in NFC, without control characters
// and without the scope syntax: = , + { }.
func validDimValue(s string) bool {
	ascii := true
	for _, r := range s {
		switch {
		case r == '=', r == ',', r == '+', r == '{', r == '}':
			return false
		case r < utf8.RuneSelf:
			if r < ' ' || r == 0x7f {
				return false
			}
		case r == utf8.RuneError:
			return false
		case r == '\u200c', r == '\u200d': // ZWNJ and ZWJ, part of Persian and Indic words
			ascii = false
		case unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S) || r == '\u00a0' || r == '\u3000':
			ascii = false
		default:
			return false
		}
	}
	return ascii || norm.NFC.IsNormalString(s)
}

// NormalDimValue returns a dims value in NFC, the form cxpulse keeps (the
// same name typed on two keyboards is one scope).
func NormalDimValue(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return norm.NFC.String(s)
		}
	}
	return s
}

// ValidCurrency reports whether s looks like an ISO 4217 code (three
// capital letters).
func ValidCurrency(s string) bool {
	if len(s) != currencyCodeSize {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func typeList() string {
	names := make([]string, len(Types))
	for i, t := range Types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}
