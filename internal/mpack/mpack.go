// Package mpack writes the MessagePack subset that cxpulse's Redis
// scripts read (arrays, strings, whole numbers in their smallest form and
// float64) and reads the counter arrays the scripts write back, integers
// of every width and floats included. What the arrays mean is left to the
// store.
package mpack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/cxpulse/cxpulse/internal/stats"
)

// The scripts take their bulk arguments as MessagePack arrays, which Redis
// unpacks in C (cmsgpack). Only what the scripts read is written here:
// arrays, strings, and numbers as integers where whole (in the smallest
// form) or float64 otherwise, the forms cmsgpack and msgpack.lua read back
// exactly.

// AppendArray appends the header of an array of n elements.
func AppendArray(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
	}
}

// AppendString appends s as a MessagePack string.
func AppendString[T string | []byte](b []byte, s T) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

// AppendInt appends a whole number in its smallest form.
func AppendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0 && v < 128:
		return append(b, byte(v))
	case v < 0 && v >= -32:
		return append(b, byte(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(int32(v)))
	default:
		return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
	}
}

// AppendNumber appends v as an integer when it is a whole number Lua holds
// exactly, else as float64.
func AppendNumber(b []byte, v float64) []byte {
	if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		return AppendInt(b, int64(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(v))
}

// AppendSparse appends, as MessagePack, the number of non-zero counters,
// then each one's position (from 1, as Lua counts) and value; it returns
// the number of values appended.
func AppendSparse(b []byte, c *stats.Counters) ([]byte, int) {
	n := 0
	for _, v := range c {
		if v != 0 {
			n++
		}
	}
	b = AppendInt(b, int64(n))
	for i, v := range c {
		if v != 0 {
			b = AppendNumber(AppendInt(b, int64(i+1)), v)
		}
	}
	return b, 1 + 2*n
}

// UnpackCounters reads a MessagePack array of numbers as written by Lua's
// cmsgpack (integers of every width, float32 and float64).
func UnpackCounters(b []byte) (stats.Counters, error) {
	var c stats.Counters
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
