package wire

import (
	"fmt"
	"math"
)

// Ref is the payload of an out-of-line envelope (FlagOutOfLine): where
// the whole envelope waits, in a segment of its own.
type Ref struct {
	// Segment is the segment's name in the namespace directory.
	Segment string
	// Len is the envelope's length in bytes.
	Len uint64
	// Chunk is the size of the sealed chunks the envelope is cut into
	// (0: not sealed).
	Chunk uint64
	// Key seals the chunks (empty: not sealed); Suite says with what.
	Key   []byte
	Suite uint8
}

// Limits on a Ref's fields.
const (
	maxRefKey = 64
	refFields = 5
)

// AppendRef appends r's encoding: a msgpack array of its five fields.
func AppendRef(dst []byte, r *Ref) []byte {
	dst = appendArrayLen(dst, refFields)
	dst = appendStr(dst, r.Segment)
	dst = appendUint(dst, r.Len)
	dst = appendUint(dst, r.Chunk)
	dst = appendBin(dst, r.Key)
	return appendUint(dst, uint64(r.Suite))
}

// DecodeRef decodes a Ref, checking every field: a segment name of at
// most MaxString bytes, a key of at most 64 bytes, and nothing after it.
// The error wraps ErrMalformed and names the field.
func DecodeRef(b []byte) (Ref, error) {
	var ref Ref
	r := reader{b: b}
	n, err := r.arrayLen("ref")
	if err != nil {
		return ref, err
	}
	if n != refFields {
		return ref, r.fail("ref", "array of %d fields, want %d", n, refFields)
	}
	seg, err := r.str("ref segment", MaxString)
	if err != nil {
		return ref, err
	}
	ref.Segment = string(seg)
	if ref.Len, err = r.uint("ref length", math.MaxInt64); err != nil {
		return ref, err
	}
	if ref.Chunk, err = r.uint("ref chunk", math.MaxInt32); err != nil {
		return ref, err
	}
	key, err := r.strOrBin("ref key", maxRefKey)
	if err != nil {
		return ref, err
	}
	if len(key) > 0 {
		ref.Key = append([]byte(nil), key...)
	}
	suite, err := r.uint("ref suite", math.MaxUint8)
	if err != nil {
		return ref, err
	}
	ref.Suite = uint8(suite)
	if r.off != len(b) {
		return ref, &FieldError{Field: "ref", Offset: r.off, Reason: fmt.Sprintf("%d bytes after it", len(b)-r.off), err: ErrMalformed}
	}
	return ref, nil
}
