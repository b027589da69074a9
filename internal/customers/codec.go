package customers

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/valyala/fastjson"
)

// Decode reads a customer record as Encode writes it.
func Decode(id string, data []byte) (*History, error) {
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(data)
	if err != nil {
		return nil, fmt.Errorf("record of customer %q: %w", id, err)
	}
	c, err := decodeHistory(v)
	if err != nil {
		return nil, fmt.Errorf("record of customer %q: %w", id, err)
	}
	resolve := func(e *Entry) error {
		e.Scopes = make([]string, len(e.Refs))
		for i, r := range e.Refs {
			if r < 0 || r >= len(c.Names) {
				return fmt.Errorf("record of customer %q: scope %d of %d", id, r, len(c.Names))
			}
			e.Scopes[i] = c.Names[r]
		}
		e.Refs = nil
		return nil
	}
	for i := range c.Events {
		if err := resolve(&c.Events[i]); err != nil {
			return nil, err
		}
	}
	if c.First != nil {
		if err := resolve(c.First); err != nil {
			return nil, err
		}
	}
	c.Names = nil
	return c, nil
}

// parsers are reused across records: a record is parsed without a
// reflection pass and with its parser's memory kept.
var parsers fastjson.ParserPool

// decodeHistory reads a parsed record; an unknown field is ignored, a
// known one of the wrong type is an error naming it.
func decodeHistory(v *fastjson.Value) (*History, error) {
	o, err := v.Object()
	if err != nil {
		return nil, err
	}
	c := &History{}
	o.Visit(func(k []byte, f *fastjson.Value) {
		if err != nil {
			return
		}
		switch string(k) {
		case "e":
			var es []*fastjson.Value
			if es, err = f.Array(); err != nil {
				err = fmt.Errorf("e: %w", err)
				return
			}
			c.Events = make([]Entry, len(es))
			for i, ev := range es {
				if err = decodeEntry(ev, &c.Events[i]); err != nil {
					err = fmt.Errorf("e[%d]: %w", i, err)
					return
				}
			}
		case "f":
			c.First = &Entry{}
			if err = decodeEntry(f, c.First); err != nil {
				err = fmt.Errorf("f: %w", err)
			}
		case "c":
			var co *fastjson.Object
			if co, err = f.Object(); err != nil {
				err = fmt.Errorf("c: %w", err)
				return
			}
			c.Carry = make(map[string]Spell, co.Len())
			co.Visit(func(sc []byte, sp *fastjson.Value) {
				if err != nil {
					return
				}
				if sp.Type() != fastjson.TypeObject {
					err = fmt.Errorf("c[%q]: %s where an object belongs", sc, sp.Type())
					return
				}
				var s Spell
				if s.Since, err = int64Field(sp, "a"); err == nil {
					s.Last, err = int64Field(sp, "l")
				}
				if err != nil {
					err = fmt.Errorf("c[%q]: %w", sc, err)
					return
				}
				c.Carry[string(sc)] = s
			})
		case "t":
			if c.AsOf, err = f.Int64(); err != nil {
				err = fmt.Errorf("t: %w", err)
			}
		case "n":
			var ns []*fastjson.Value
			if ns, err = f.Array(); err != nil {
				err = fmt.Errorf("n: %w", err)
				return
			}
			c.Names = make([]string, len(ns))
			for i, n := range ns {
				var b []byte
				if b, err = n.StringBytes(); err != nil {
					err = fmt.Errorf("n[%d]: %w", i, err)
					return
				}
				c.Names[i] = string(b)
			}
		}
	})
	return c, err
}

// int64Field reads an integer field of an object (0 when absent).
func int64Field(v *fastjson.Value, key string) (int64, error) {
	f := v.Get(key)
	if f == nil {
		return 0, nil
	}
	n, err := f.Int64()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	return n, nil
}

// decodeEntry reads one entry of a record.
func decodeEntry(v *fastjson.Value, e *Entry) error {
	o, err := v.Object()
	if err != nil {
		return err
	}
	o.Visit(func(k []byte, f *fastjson.Value) {
		if err != nil {
			return
		}
		switch string(k) {
		case "i", "r":
			var b []byte
			if b, err = f.StringBytes(); err != nil {
				err = fmt.Errorf("%s: %w", k, err)
				return
			}
			if k[0] == 'i' {
				e.ID = string(b)
			} else {
				e.Code = string(b)
			}
		case "x":
			if e.Cancel, err = f.Bool(); err != nil {
				err = fmt.Errorf("x: %w", err)
			}
		case "a":
			if e.At, err = f.Int64(); err != nil {
				err = fmt.Errorf("a: %w", err)
			}
		case "s":
			var rs []*fastjson.Value
			if rs, err = f.Array(); err != nil {
				err = fmt.Errorf("s: %w", err)
				return
			}
			e.Refs = make([]int, len(rs))
			for i, r := range rs {
				if e.Refs[i], err = r.Int(); err != nil {
					err = fmt.Errorf("s[%d]: %w", i, err)
					return
				}
			}
		}
	})
	return err
}

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
