package store

import (
	"encoding/binary"
	"math"
)

// The scripts take their bulk arguments as MessagePack arrays, which Redis
// unpacks in C (cmsgpack): far cheaper than walking one argument per value
// in Lua. Only what the scripts read is written here: arrays, strings, and numbers
// as integers where whole (in the smallest form) or float64 otherwise,
// the forms cmsgpack and msgpack.lua read back exactly.

// appendArray appends the header of an array of n elements.
func appendArray(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
	}
}

// appendString appends s as a MessagePack string.
func appendString[T string | []byte](b []byte, s T) []byte {
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

// appendInt appends a whole number in its smallest form.
func appendInt(b []byte, v int64) []byte {
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

// appendNumber appends v as an integer when it is a whole number Lua holds
// exactly, else as float64.
func appendNumber(b []byte, v float64) []byte {
	if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		return appendInt(b, int64(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(v))
}
