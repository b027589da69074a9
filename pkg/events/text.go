package events

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxParseError bounds the text of a JSON syntax error.
const maxParseError = 300

// ParseErrorText returns a JSON parser's error in a few words: the chain
// of "cannot parse …" steps down to the fault is left out (a body nested
// 100,000 deep would repeat it at every level), keeping the fault itself
// and the bounded excerpt of where it is.
func ParseErrorText(err error) string {
	s := err.Error()
	parts := strings.Split(s, ": ")
	kept := parts[:0]
	for _, p := range parts {
		if strings.HasPrefix(p, "cannot parse ") {
			continue
		}
		kept = append(kept, p)
	}
	out := strings.Join(kept, ": ")
	if out == "" {
		out = s
	}
	if len(out) > maxParseError {
		cut := maxParseError
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + "…"
	}
	return out
}

// loneSurrogates returns the \u escapes of data that name half of a
// UTF-16 surrogate pair without the other half: JSON allows them, but they
// are no character, and the parser keeps them as the six characters
// written. nil when there is none (data without "\u" is not scanned).
func loneSurrogates(data []byte) []string {
	if !bytes.Contains(data, []byte(`\u`)) {
		return nil
	}
	var out []string
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' || i+1 >= len(data) {
			continue
		}
		if data[i+1] != 'u' {
			i++ // an escaped character, perhaps a backslash
			continue
		}
		hi, ok := hex4(data, i+2)
		if !ok || hi < 0xD800 || hi > 0xDFFF {
			i += 5
			continue
		}
		if hi <= 0xDBFF && i+11 < len(data) && data[i+6] == '\\' && data[i+7] == 'u' {
			if lo, ok := hex4(data, i+8); ok && lo >= 0xDC00 && lo <= 0xDFFF {
				i += 11 // a whole pair
				continue
			}
		}
		out = append(out, string(data[i:i+6]))
		i += 5
	}
	return out
}

// hex4 reads four hex digits at data[at:].
func hex4(data []byte, at int) (rune, bool) {
	if at+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[at : at+4] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// textFields calls visit with the path and value of every free-text or
// identifier field of e that the contract does not restrict to a set of
// characters.
func (e *Event) textFields(visit func(field, value string)) {
	visit("id", e.ID)
	visit("customer_id", e.CustomerID)
	for k, v := range e.Attrs {
		visit("attrs."+k, v)
	}
	if s := e.Survey; s != nil {
		visit("survey.comment", s.Comment)
	}
	if t := e.Ticket; t != nil {
		visit("ticket.ticket_id", t.TicketID)
		visit("ticket.category", t.Category)
	}
	if p := e.Purchase; p != nil {
		visit("purchase.order_id", p.OrderID)
		visit("purchase.referral_code", p.ReferralCode)
	}
	if r := e.Referral; r != nil {
		visit("referral.code", r.Code)
		visit("referral.referrer_id", r.ReferrerID)
	}
}

// controlIn returns the first control character of s that a field may not
// hold, and whether there is one: none in an identifier, and none but tab,
// line feed and carriage return in free text.
func controlIn(s string, text bool) (rune, bool) {
	for _, r := range s {
		if !unicode.IsControl(r) || text && (r == '\t' || r == '\n' || r == '\r') {
			continue
		}
		return r, true
	}
	return 0, false
}

// freeText reports whether field holds free text (where line breaks
// belong) rather than an identifier.
func freeText(field string) bool {
	return field == "survey.comment" || field == "ticket.category" || strings.HasPrefix(field, "attrs.")
}
