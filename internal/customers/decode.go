package customers

import (
	"fmt"
	"strconv"
	"strings"

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
			c.Events, err = array("e", f, decodeEntry)
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
			c.Names, err = array("n", f, readString)
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
		case "i":
			if err = readString(f, &e.ID); err != nil {
				err = fmt.Errorf("i: %w", err)
			}
		case "r":
			if err = readString(f, &e.Code); err != nil {
				err = fmt.Errorf("r: %w", err)
			}
		case "x":
			if e.Cancel, err = f.Bool(); err != nil {
				err = fmt.Errorf("x: %w", err)
			}
		case "o":
			if e.FirstOnly, err = f.Bool(); err != nil {
				err = fmt.Errorf("o: %w", err)
			}
		case "a":
			if e.At, err = f.Int64(); err != nil {
				err = fmt.Errorf("a: %w", err)
			}
		case "s":
			e.Refs, err = array("s", f, func(v *fastjson.Value, n *int) (err error) {
				*n, err = v.Int()
				return err
			})
		}
	})
	return err
}

// array reads the array field key, each element with read; an error
// names the element.
func array[T any](key string, v *fastjson.Value, read func(*fastjson.Value, *T) error) ([]T, error) {
	vs, err := v.Array()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	out := make([]T, len(vs))
	for i, e := range vs {
		if err := read(e, &out[i]); err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", key, i, err)
		}
	}
	return out, nil
}

// readString reads a JSON string.
func readString(v *fastjson.Value, s *string) error {
	b, err := v.StringBytes()
	*s = string(b)
	return err
}

// ParseStored reads a stored customer record: its version, "|", its data.
func ParseStored(id, s string) (*StoredRecord, error) {
	v, data, ok := strings.Cut(s, "|")
	n, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil {
		return nil, fmt.Errorf("record of customer %q is corrupt", id)
	}
	return &StoredRecord{Version: n, Data: []byte(data)}, nil
}
