package customers

import (
	"maps"
	"slices"
	"strconv"
)

// Encode writes the record as JSON (what Decode reads), with each scope
// name stored once. It writes the fields itself rather than through
// reflection (docs/performance.md).
func (c *History) Encode() []byte {
	index := map[string]int{}
	var names []string
	b := make([]byte, 0, 64+48*len(c.Events))
	entry := func(b []byte, e *Entry) []byte {
		b = append(b, `{"i":`...)
		b = appendJSONString(b, e.ID)
		if e.Cancel {
			b = append(b, `,"x":true`...)
		}
		b = append(b, `,"a":`...)
		b = strconv.AppendInt(b, e.At, 10)
		if len(e.Scopes) > 0 {
			b = append(b, `,"s":[`...)
			for i, sc := range e.Scopes {
				n, ok := index[sc]
				if !ok {
					n = len(names)
					index[sc] = n
					names = append(names, sc)
				}
				if i > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, int64(n), 10)
			}
			b = append(b, ']')
		}
		if e.Code != "" {
			b = append(b, `,"r":`...)
			b = appendJSONString(b, e.Code)
		}
		if e.FirstOnly {
			b = append(b, `,"o":true`...)
		}
		return append(b, '}')
	}
	b = append(b, '{')
	if len(c.Events) > 0 {
		b = append(b, `"e":[`...)
		for i := range c.Events {
			if i > 0 {
				b = append(b, ',')
			}
			b = entry(b, &c.Events[i])
		}
		b = append(b, "],"...)
	}
	if c.First != nil {
		b = append(b, `"f":`...)
		b = append(entry(b, c.First), ',')
	}
	if len(c.Carry) > 0 {
		b = append(b, `"c":{`...)
		for i, sc := range slices.Sorted(maps.Keys(c.Carry)) {
			if i > 0 {
				b = append(b, ',')
			}
			sp := c.Carry[sc]
			b = append(appendJSONString(b, sc), `:{"a":`...)
			b = strconv.AppendInt(b, sp.Since, 10)
			b = append(b, `,"l":`...)
			b = strconv.AppendInt(b, sp.Last, 10)
			b = append(b, '}')
		}
		b = append(b, "},"...)
	}
	b = append(b, `"t":`...)
	b = strconv.AppendInt(b, c.AsOf, 10)
	if len(names) > 0 {
		b = append(b, `,"n":[`...)
		for i, n := range names {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, n)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string. s is valid UTF-8 (it comes
// from decoded events); quotes, backslashes and control characters are
// escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '"' || ch == '\\':
			b = append(b, '\\', ch)
		case ch < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[ch>>4], hex[ch&0xf])
		default:
			b = append(b, ch)
		}
	}
	return append(b, '"')
}
