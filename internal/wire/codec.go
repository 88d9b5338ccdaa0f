package wire

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"os"
	"reflect"

	"github.com/vmihailenco/msgpack/v5"
)

// Encoder encodes payloads into caller-owned buffers. It reuses its
// internal state, so encoding allocates nothing beyond what the value's
// own msgpack encoding needs. An Encoder is not safe for concurrent use;
// keep one per goroutine or in a sync.Pool.
type Encoder struct {
	reg     *Registry
	enc     *msgpack.Encoder
	w       appendWriter
	depth   int    // nesting of the value being encoded, bounded by MaxDepth
	scratch []byte // for protobuf messages, marshaled before their length is known
	// Files are the *os.File values the last AppendPayload met, in the
	// order their indexes were encoded: the caller passes them beside
	// the envelope.
	Files []*os.File
}

// NewEncoder returns an encoder using reg.
func NewEncoder(reg *Registry) *Encoder {
	e := &Encoder{reg: reg}
	e.enc = msgpack.NewEncoder(&e.w)
	return e
}

// appendWriter lets the msgpack encoder append straight into our buffer.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
func (w *appendWriter) WriteByte(c byte) error      { w.b = append(w.b, c); return nil }
func (w *appendWriter) WriteString(s string) (int, error) {
	w.b = append(w.b, s...)
	return len(s), nil
}

// AppendPayload appends the msgpack encoding of v to dst. v must be of a
// registered type, a *RawMessage, or nil.
func (e *Encoder) AppendPayload(dst []byte, v any) ([]byte, error) {
	switch m := v.(type) {
	case nil:
		return append(dst, 0xc0), nil
	case *RawMessage:
		return append(dst, m.Data...), nil
	}
	rt, ok := e.reg.tables.Load().byType[reflect.TypeOf(v)]
	if !ok {
		return dst, &UnregisteredTypeError{Type: reflect.TypeOf(v)}
	}
	e.depth = 0
	e.Files = e.Files[:0]
	rv := reflect.ValueOf(v)
	var out []byte
	var err error
	if rt.elem != nil && !rv.IsNil() {
		// As Payload decodes it: the pointed-to value, at depth 0.
		out, err = rt.elem.enc(dst, rv.Elem(), e)
	} else {
		out, err = rt.codec.enc(dst, rv, e)
	}
	if err != nil {
		return dst, fmt.Errorf("%w %T: %w", ErrEncode, v, err)
	}
	return out, nil
}

// Decoder decodes envelopes. It interns the strings of headers it has seen
// (node addresses, targets, type names repeat), so decoding a familiar
// header allocates nothing. A Decoder is not safe for concurrent use.
type Decoder struct {
	reg *Registry
	// Max is the largest envelope accepted, in bytes (default DefaultMax).
	Max int
	// Files are the descriptors that came with the payload: an *os.File
	// field takes the one at its encoded index, and the slot is cleared.
	Files []*os.File
	// Alias makes decoded byte slices share the payload's bytes instead
	// of copying them: for payloads in memory the caller owns and never
	// reuses (an out-of-line message opened into a buffer of its own).
	Alias bool

	dec      *msgpack.Decoder
	rd       bytes.Reader
	r        reader // reused, so it does not escape per call
	strs     [internSlots]string
	last     [4]string // the previous header's strings, the likeliest next
	lastType *regType  // the previous payload's type
}

// NewDecoder returns a decoder using reg.
func NewDecoder(reg *Registry) *Decoder {
	d := &Decoder{reg: reg, Max: DefaultMax}
	d.dec = msgpack.NewDecoder(&d.rd)
	return d
}

// internSlots is the size of the decoder's string cache: a 2-way
// set-associative table, so a peer sending endless new strings costs
// allocations, never memory, and a hit costs a hash and a comparison or
// two.
const internSlots = 4096

var internSeed = maphash.MakeSeed()

func (d *Decoder) intern(b []byte) string {
	h := maphash.Bytes(internSeed, b)
	set := d.strs[h%internSlots&^1:][:2]
	for _, s := range set {
		if s == string(b) {
			return s
		}
	}
	// Miss: replace one of the two, chosen by another bit of the hash.
	s := string(b)
	set[h>>63] = s
	return s
}

// Header decodes the header at the start of envelope and returns it with
// the header's length in bytes; the payload (or sealed body) follows.
func (d *Decoder) Header(envelope []byte) (Header, int, error) {
	if len(envelope) > d.Max {
		return Header{}, 0, &FieldError{Field: "envelope", Reason: fmt.Sprintf("%d bytes exceeds the maximum %d", len(envelope), d.Max), err: ErrTooLarge}
	}
	return decodeHeader(envelope, d.headerString)
}

// headerString interns a header string, trying the same field of the
// previous header first: consecutive envelopes from one sender repeat them.
func (d *Decoder) headerString(field int, b []byte) string {
	if s := d.last[field]; s == string(b) {
		return s
	}
	s := d.intern(b)
	d.last[field] = s
	return s
}

// Payload decodes a payload of the named type. Decoding checks every
// length against what remains before using it, bounds nesting at MaxDepth
// and requires exactly one value (values handed to msgpack/v5 are walked
// and checked first). An unregistered name is an
// *UnknownTypeError, a payload that does not fit its type a *PayloadError.
func (d *Decoder) Payload(typeName string, payload []byte) (any, error) {
	if typeName == "" {
		if len(payload) != 1 || payload[0] != 0xc0 {
			return nil, &FieldError{Field: "payload", Reason: "untyped payload must be nil", err: ErrMalformed}
		}
		return nil, nil
	}
	rt := d.lastType
	if rt == nil || rt.name != typeName {
		var ok bool
		if rt, ok = d.reg.tables.Load().byName[typeName]; !ok {
			return nil, &UnknownTypeError{Name: typeName}
		}
		d.lastType = rt
	}
	if rt.elem != nil {
		// Allocate the pointed-to value directly: one allocation, not a
		// pointer cell and then the value.
		if len(payload) == 1 && payload[0] == 0xc0 {
			return reflect.Zero(rt.typ).Interface(), nil
		}
		v := reflect.New(rt.typ.Elem())
		if err := d.decode(payload, rt.elem, v.Elem()); err != nil {
			return nil, &PayloadError{Name: typeName, Err: err}
		}
		return v.Interface(), nil
	}
	v := reflect.New(rt.typ).Elem()
	if err := d.decode(payload, rt.codec, v); err != nil {
		return nil, &PayloadError{Name: typeName, Err: err}
	}
	return v.Interface(), nil
}

// decode runs a compiled decoder over validated bytes. A panic inside it
// (from msgpack/v5 on a fallback value, or a bug we have not met yet, on
// input we have not seen yet) is an error, not a crash of the receiving
// process.
func (d *Decoder) decode(b []byte, c *codec, v reflect.Value) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decoder panic: %v", p)
			d.dec = msgpack.NewDecoder(&d.rd) // its state is suspect
		}
	}()
	d.r = reader{b: b}
	if err := c.dec(&d.r, v, d); err != nil {
		return err
	}
	if d.r.off != len(b) {
		return d.r.fail("payload", "%d bytes after the value", len(b)-d.r.off)
	}
	return nil
}

// fallbackDecode hands one value's bytes to msgpack/v5.
func (d *Decoder) fallbackDecode(b []byte, v reflect.Value) error {
	d.rd.Reset(b)
	d.dec.Reset(&d.rd)
	return d.dec.DecodeValue(v)
}

// maxInternedPayload is the longest payload string interned: short strings
// (names, codes, states) repeat across messages; long ones rarely do.
const maxInternedPayload = 32

func (d *Decoder) payloadString(b []byte) string {
	if len(b) <= maxInternedPayload {
		return d.intern(b)
	}
	return string(b)
}

// Raw returns the payload as a RawMessage without decoding it, after the
// same validation as Payload. Data is a copy.
func (d *Decoder) Raw(typeName string, payload []byte) (*RawMessage, error) {
	if err := Validate(payload); err != nil {
		return nil, err
	}
	return &RawMessage{Type: typeName, Data: append([]byte(nil), payload...)}, nil
}

// Validate checks that b is exactly one well-formed msgpack value whose
// every length fits in b and whose nesting is at most MaxDepth.
func Validate(b []byte) error {
	r := reader{b: b}
	if err := r.skip("payload", 0); err != nil {
		return err
	}
	if r.off != len(b) {
		return r.fail("payload", "%d bytes after the value", len(b)-r.off)
	}
	return nil
}

// MaxMeta bounds the entries of a metadata map.
const MaxMeta = 64

// AppendStringMap appends m as a msgpack map of strings.
func AppendStringMap(dst []byte, m map[string]string) []byte {
	dst = appendMapHeader(dst, len(m))
	for k, v := range m {
		dst = appendStr(dst, k)
		dst = appendStr(dst, v)
	}
	return dst
}

// CheckStringMap reports whether a decoder would take m as metadata: at
// most MaxMeta entries, keys and values of at most MaxString bytes. The
// error wraps ErrTooLarge and names the entry.
func CheckStringMap(m map[string]string) error {
	if len(m) > MaxMeta {
		return &FieldError{Field: "meta", Reason: fmt.Sprintf("%d entries, at most %d", len(m), MaxMeta), err: ErrTooLarge}
	}
	for k, v := range m {
		if len(k) > MaxString {
			return &FieldError{Field: "meta", Reason: fmt.Sprintf("a %d-byte key, at most %d", len(k), MaxString), err: ErrTooLarge}
		}
		if len(v) > MaxString {
			return &FieldError{Field: "meta", Reason: fmt.Sprintf("key %.40q has a %d-byte value, at most %d", k, len(v), MaxString), err: ErrTooLarge}
		}
	}
	return nil
}

// StringMap decodes a msgpack map of strings (at most MaxMeta entries of
// at most MaxString bytes) at the start of b and returns it with its
// length.
func (d *Decoder) StringMap(b []byte) (map[string]string, int, error) {
	r := reader{b: b}
	n, err := r.mapHeader("meta")
	if err != nil {
		return nil, 0, err
	}
	if n > MaxMeta {
		return nil, 0, &FieldError{Field: "meta", Reason: fmt.Sprintf("%d entries, at most %d", n, MaxMeta), err: ErrTooLarge}
	}
	m := make(map[string]string, n)
	for range n {
		k, err := r.str("meta", MaxString)
		if err != nil {
			return nil, 0, err
		}
		v, err := r.str("meta", MaxString)
		if err != nil {
			return nil, 0, err
		}
		m[d.intern(k)] = d.payloadString(v)
	}
	return m, r.off, nil
}
