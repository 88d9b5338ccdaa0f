package wire

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Hand-written msgpack for the header (fixed fields, no reflection) and a
// validating walker that checks any msgpack value before the reflection
// decoder sees it.

func appendUint(b []byte, v uint64) []byte {
	switch {
	case v <= 0x7f:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}

func appendStr(b []byte, s string) []byte {
	switch n := len(s); {
	case n <= 31:
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

func appendArrayLen(b []byte, n int) []byte {
	if n <= 15 {
		return append(b, 0x90|byte(n))
	}
	return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
}

// reader reads msgpack from a byte slice, never past its end.
type reader struct {
	b     []byte
	off   int
	depth int // nesting of the compiled decoder, bounded by MaxDepth
}

// descend and ascend track the compiled decoder's nesting: a recursive
// type fed deeply nested input must fail, not grow the stack without end.
func (r *reader) descend() error {
	if r.depth++; r.depth > MaxDepth {
		return r.fail("payload", "nested deeper than %d", MaxDepth)
	}
	return nil
}

func (r *reader) ascend() { r.depth-- }

func (r *reader) fail(field, format string, args ...any) error {
	return &FieldError{Field: field, Offset: r.off, Reason: fmt.Sprintf(format, args...), err: ErrMalformed}
}

func (r *reader) need(field string, n int) error {
	if uint(n) > uint(len(r.b)-r.off) {
		return r.short(field, n)
	}
	return nil
}

// short is need's error, kept out of line so need inlines.
func (r *reader) short(field string, n int) error {
	return r.fail(field, "needs %d bytes, %d remain", n, len(r.b)-r.off)
}

func (r *reader) byte1(field string) (byte, error) {
	if r.off >= len(r.b) {
		return 0, r.short(field, 1)
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

// uint reads a msgpack unsigned integer of at most max.
func (r *reader) uint(field string, max uint64) (uint64, error) {
	if r.off < len(r.b) && r.b[r.off] <= 0x7f && uint64(r.b[r.off]) <= max {
		r.off++
		return uint64(r.b[r.off-1]), nil // positive fixint, the common case
	}
	return r.uintSlow(field, max)
}

func (r *reader) uintSlow(field string, max uint64) (uint64, error) {
	start := r.off
	c, err := r.byte1(field)
	if err != nil {
		return 0, err
	}
	var v uint64
	switch {
	case c <= 0x7f:
		v = uint64(c)
	case c == 0xcc || c == 0xcd || c == 0xce || c == 0xcf:
		n := 1 << (c - 0xcc)
		if err := r.need(field, n); err != nil {
			return 0, err
		}
		for _, x := range r.b[r.off : r.off+n] {
			v = v<<8 | uint64(x)
		}
		r.off += n
	default:
		r.off = start
		return 0, r.fail(field, "want an unsigned integer, found type byte 0x%02x", c)
	}
	if v > max {
		r.off = start
		return 0, r.fail(field, "value %d exceeds %d", v, max)
	}
	return v, nil
}

// str reads a msgpack string of at most max bytes and returns it as a
// slice of the input.
func (r *reader) str(field string, max int) ([]byte, error) {
	if r.off < len(r.b) {
		if c := r.b[r.off]; c&0xe0 == 0xa0 { // fixstr, the common case
			n := int(c & 0x1f)
			if end := r.off + 1 + n; n <= max && end <= len(r.b) {
				s := r.b[r.off+1 : end]
				r.off = end
				return s, nil
			}
		}
	}
	return r.strSlow(field, max)
}

func (r *reader) strSlow(field string, max int) ([]byte, error) {
	start := r.off
	c, err := r.byte1(field)
	if err != nil {
		return nil, err
	}
	var n int
	switch {
	case c&0xe0 == 0xa0:
		n = int(c & 0x1f)
	case c == 0xd9 || c == 0xda || c == 0xdb:
		w := 1 << (c - 0xd9)
		if err := r.need(field, w); err != nil {
			return nil, err
		}
		var x uint64
		for _, y := range r.b[r.off : r.off+w] {
			x = x<<8 | uint64(y)
		}
		r.off += w
		if x > uint64(max) {
			r.off = start
			return nil, &FieldError{Field: field, Offset: start, Reason: fmt.Sprintf("string of %d bytes exceeds %d", x, max), err: ErrTooLarge}
		}
		n = int(x)
	default:
		r.off = start
		return nil, r.fail(field, "want a string, found type byte 0x%02x", c)
	}
	if n > max {
		r.off = start
		return nil, &FieldError{Field: field, Offset: start, Reason: fmt.Sprintf("string of %d bytes exceeds %d", n, max), err: ErrTooLarge}
	}
	if err := r.need(field, n); err != nil {
		return nil, err
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s, nil
}

func (r *reader) arrayLen(field string) (int, error) {
	start := r.off
	c, err := r.byte1(field)
	if err != nil {
		return 0, err
	}
	switch {
	case c&0xf0 == 0x90:
		return int(c & 0x0f), nil
	case c == 0xdc:
		if err := r.need(field, 2); err != nil {
			return 0, err
		}
		n := int(binary.BigEndian.Uint16(r.b[r.off:]))
		r.off += 2
		return n, nil
	}
	r.off = start
	return 0, r.fail(field, "want an array, found type byte 0x%02x", c)
}

// MaxDepth bounds the nesting of arrays and maps in a payload.
const MaxDepth = 100

// skip validates one msgpack value at r and moves past it: every length is
// checked against the bytes that remain (an array of n elements needs at
// least n more bytes, a map at least 2n), and nesting is bounded, so a
// decoder given the same bytes allocates in proportion to them.
func (r *reader) skip(field string, depth int) error {
	if depth > MaxDepth {
		return r.fail(field, "nested deeper than %d", MaxDepth)
	}
	start := r.off
	c, err := r.byte1(field)
	if err != nil {
		return err
	}
	length := func(w int) (int, error) {
		if err := r.need(field, w); err != nil {
			return 0, err
		}
		var x uint64
		for _, y := range r.b[r.off : r.off+w] {
			x = x<<8 | uint64(y)
		}
		r.off += w
		if x > uint64(len(r.b)) {
			return 0, r.fail(field, "length %d exceeds the %d-byte input", x, len(r.b))
		}
		return int(x), nil
	}
	var n, elems int // bytes to skip; or elements to walk
	switch {
	case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
		return nil // fixint, nil, bool
	case c&0xf0 == 0x80:
		elems = 2 * int(c&0x0f) // fixmap
	case c&0xf0 == 0x90:
		elems = int(c & 0x0f) // fixarray
	case c&0xe0 == 0xa0:
		n = int(c & 0x1f) // fixstr
	case c == 0xcc, c == 0xd0:
		n = 1
	case c == 0xcd, c == 0xd1:
		n = 2
	case c == 0xca, c == 0xce, c == 0xd2:
		n = 4
	case c == 0xcb, c == 0xcf, c == 0xd3:
		n = 8
	case c == 0xc4, c == 0xd9: // bin8, str8
		n, err = length(1)
	case c == 0xc5, c == 0xda:
		n, err = length(2)
	case c == 0xc6, c == 0xdb:
		n, err = length(4)
	case c == 0xd4, c == 0xd5, c == 0xd6, c == 0xd7, c == 0xd8: // fixext: type + 1,2,4,8,16
		n = 1 + 1<<(c-0xd4)
	case c == 0xc7, c == 0xc8, c == 0xc9: // ext8/16/32: length, type
		n, err = length(1 << (c - 0xc7))
		n++
	case c == 0xdc:
		elems, err = length(2)
	case c == 0xdd:
		elems, err = length(4)
	case c == 0xde:
		elems, err = length(2)
		elems *= 2
	case c == 0xdf:
		elems, err = length(4)
		elems *= 2
	default:
		r.off = start
		return r.fail(field, "invalid msgpack type byte 0x%02x", c)
	}
	if err != nil {
		return err
	}
	if err := r.need(field, n); err != nil {
		return err
	}
	r.off += n
	if elems > len(r.b)-r.off {
		return r.fail(field, "%d elements cannot fit in the %d bytes that remain", elems, len(r.b)-r.off)
	}
	for range elems {
		if err := r.skip(field, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// ---- payload reading, for compiled decoders ----

// isNil consumes a msgpack nil if one is next.
func (r *reader) isNil() bool {
	if r.off < len(r.b) && r.b[r.off] == 0xc0 {
		r.off++
		return true
	}
	return false
}

// peekArray reports whether an array is next.
func (r *reader) peekArray() bool {
	if r.off >= len(r.b) {
		return false
	}
	c := r.b[r.off]
	return c&0xf0 == 0x90 || c == 0xdc || c == 0xdd
}

// bigLen reads a w-byte big-endian length.
func (r *reader) bigLen(field string, w int) (int, error) {
	if err := r.need(field, w); err != nil {
		return 0, err
	}
	var x uint64
	for _, y := range r.b[r.off : r.off+w] {
		x = x<<8 | uint64(y)
	}
	r.off += w
	if x > uint64(len(r.b)) {
		return 0, r.fail(field, "length %d exceeds the %d-byte input", x, len(r.b))
	}
	return int(x), nil
}

// arrayHeader reads an array header whose elements fit in what remains.
func (r *reader) arrayHeader(field string) (int, error) {
	return r.collHeader(field, "an array", "elements", 0x90, 0xdc, 0xdd, 1)
}

// mapHeader reads a map header whose entries fit in what remains.
func (r *reader) mapHeader(field string) (int, error) {
	return r.collHeader(field, "a map", "entries", 0x80, 0xde, 0xdf, 2)
}

// collHeader reads an array or map header (fix, 16- and 32-bit length
// type bytes) whose n items, of at least per bytes each, fit in what
// remains.
func (r *reader) collHeader(field, what, items string, fix, t16, t32 byte, per int) (int, error) {
	start := r.off
	c, err := r.byte1(field)
	if err != nil {
		return 0, err
	}
	n := 0
	switch {
	case c&0xf0 == fix:
		n = int(c & 0x0f)
	case c == t16:
		n, err = r.bigLen(field, 2)
	case c == t32:
		n, err = r.bigLen(field, 4)
	default:
		r.off = start
		return 0, r.fail(field, "want %s, found type byte 0x%02x", what, c)
	}
	if err == nil && per*n > len(r.b)-r.off {
		err = r.fail(field, "%d %s cannot fit in the %d bytes that remain", n, items, len(r.b)-r.off)
	}
	return n, err
}

// strOrBin reads a string or binary value as a slice of the input.
func (r *reader) strOrBin(field string, max int) ([]byte, error) {
	if r.off < len(r.b) {
		switch c := r.b[r.off]; c {
		case 0xc4, 0xc5, 0xc6:
			start := r.off
			r.off++
			n, err := r.bigLen(field, 1<<(c-0xc4))
			if err != nil {
				return nil, err
			}
			if n > max {
				r.off = start
				return nil, &FieldError{Field: field, Offset: start, Reason: fmt.Sprintf("%d bytes exceed %d", n, max), err: ErrTooLarge}
			}
			if err := r.need(field, n); err != nil {
				return nil, err
			}
			s := r.b[r.off : r.off+n]
			r.off += n
			return s, nil
		}
	}
	return r.str(field, max)
}

// number reads any msgpack integer or float.
func (r *reader) number(field string) (number, error) {
	if r.off < len(r.b) && r.b[r.off] <= 0x7f {
		r.off++
		return number{kind: 'u', u: uint64(r.b[r.off-1])}, nil // positive fixint
	}
	return r.numberSlow(field)
}

func (r *reader) numberSlow(field string) (number, error) {
	start := r.off
	c, err := r.byte1(field)
	if err != nil {
		return number{}, err
	}
	read := func(n int) (uint64, error) {
		if err := r.need(field, n); err != nil {
			return 0, err
		}
		var x uint64
		for _, y := range r.b[r.off : r.off+n] {
			x = x<<8 | uint64(y)
		}
		r.off += n
		return x, nil
	}
	var x uint64
	switch {
	case c <= 0x7f:
		return number{kind: 'u', u: uint64(c)}, nil
	case c >= 0xe0:
		return number{kind: 'i', i: int64(int8(c))}, nil
	case c >= 0xcc && c <= 0xcf:
		if x, err = read(1 << (c - 0xcc)); err != nil {
			return number{}, err
		}
		return number{kind: 'u', u: x}, nil
	case c >= 0xd0 && c <= 0xd3:
		w := 1 << (c - 0xd0)
		if x, err = read(w); err != nil {
			return number{}, err
		}
		shift := 64 - 8*w // sign-extend
		return number{kind: 'i', i: int64(x<<shift) >> shift}, nil
	case c == 0xca:
		if x, err = read(4); err != nil {
			return number{}, err
		}
		return number{kind: 'f', f: float64(math.Float32frombits(uint32(x)))}, nil
	case c == 0xcb:
		if x, err = read(8); err != nil {
			return number{}, err
		}
		return number{kind: 'f', f: math.Float64frombits(x)}, nil
	}
	r.off = start
	return number{}, r.fail(field, "want a number, found type byte 0x%02x", c)
}
