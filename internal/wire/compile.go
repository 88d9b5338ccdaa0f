package wire

import (
	"encoding"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"reflect"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// Compiled codecs. msgpack/v5 finds a type's encoder through a sync.Map
// keyed by type for every struct value it meets, and decodes through
// interfaces; for shmactor's hot path (one message per envelope, millions
// per second) that costs more than the crypto. So each registered type gets
// a codec compiled once, at registration, after checkType has made sure
// every value of it can make the trip: a tree of closures that walk the
// value with reflect and write the bytes msgpack/v5 writes (structs as
// maps keyed by field name, embedded structs inlined, `msgpack:"name"`,
// `",omitempty"` and `"-"` tags, nil for nil pointers, slices and maps),
// except that integers always take their shortest form, omitempty omits
// only zero values (so an empty slice stays empty and -0.0 stays -0.0),
// and an embedded pointer that is nil writes none of its fields (so it
// arrives nil); msgpack/v5 decodes all of these. Protobuf messages are
// proto.Marshal's bytes in a msgpack bin (compile_proto.go). Types with
// their own msgpack, binary or text marshalers, and time.Time, are handed
// to msgpack/v5 for that value, so the output stays msgpack/v5's.

// codec encodes and decodes one Go type.
type codec struct {
	enc func(b []byte, v reflect.Value, e *Encoder) ([]byte, error)
	dec func(r *reader, v reflect.Value, d *Decoder) error // v is settable
	// scalar marks plain scalars ('s' string, 'i' int, 'u' uint, 'f'
	// float, 'b' bool) that struct codecs handle inline, without a call.
	scalar byte
}

var codecs sync.Map // reflect.Type → *codec

// codecFor returns the compiled codec of t, a type checkType accepts.
func codecFor(t reflect.Type) *codec {
	if c, ok := codecs.Load(t); ok {
		return c.(*codec)
	}
	cmp := compiler{seen: map[reflect.Type]*codec{}}
	c := cmp.compile(t)
	for typ, c := range cmp.seen {
		codecs.LoadOrStore(typ, c)
	}
	return c
}

type compiler struct{ seen map[reflect.Type]*codec }

var (
	customEncoder   = reflect.TypeFor[msgpack.CustomEncoder]()
	customDecoder   = reflect.TypeFor[msgpack.CustomDecoder]()
	marshaler       = reflect.TypeFor[msgpack.Marshaler]()
	unmarshaler     = reflect.TypeFor[msgpack.Unmarshaler]()
	binMarshaler    = reflect.TypeFor[encoding.BinaryMarshaler]()
	binUnmarshaler  = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// custom reports types msgpack/v5 encodes by their own methods (time.Time
// among them, by its timestamp extension).
func custom(t reflect.Type) bool {
	for _, i := range []reflect.Type{customEncoder, customDecoder, marshaler, unmarshaler, binMarshaler, binUnmarshaler, textMarshaler, textUnmarshaler} {
		if t.Implements(i) || (t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(i)) {
			return true
		}
	}
	return false
}

// errTooDeep is the encoder's refusal of a value the decoder would refuse:
// nested deeper than MaxDepth, as a cyclic value is.
var errTooDeep = fmt.Errorf("nested deeper than %d levels (is the value cyclic?)", MaxDepth)

// descend and ascend count the encoder's nesting the way the decoder's
// reader counts it, so the encoder refuses exactly what the decoder would.
func (e *Encoder) descend() error {
	if e.depth++; e.depth > MaxDepth {
		return errTooDeep
	}
	return nil
}

func (e *Encoder) ascend() { e.depth-- }

func (cmp *compiler) compile(t reflect.Type) *codec {
	if c, ok := cmp.seen[t]; ok {
		return c // recursive type: filled in below
	}
	c := &codec{}
	cmp.seen[t] = c
	switch {
	case t == fileType:
		fileCodec(c)
		return c
	case isProto(t):
		protoCodec(t, c)
		return c
	case custom(t):
		cmp.fallback(t, c)
		return c
	}
	switch t.Kind() {
	case reflect.Bool:
		c.scalar = 'b'
		c.enc = func(b []byte, v reflect.Value, _ *Encoder) ([]byte, error) {
			if v.Bool() {
				return append(b, 0xc3), nil
			}
			return append(b, 0xc2), nil
		}
		c.dec = decBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		c.scalar = 'i'
		c.enc = func(b []byte, v reflect.Value, _ *Encoder) ([]byte, error) { return appendInt(b, v.Int()), nil }
		c.dec = decInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		c.scalar = 'u'
		c.enc = func(b []byte, v reflect.Value, _ *Encoder) ([]byte, error) { return appendUint(b, v.Uint()), nil }
		c.dec = decUint
	case reflect.Float32:
		c.scalar = 'f'
		c.enc = func(b []byte, v reflect.Value, _ *Encoder) ([]byte, error) {
			return binary.BigEndian.AppendUint32(append(b, 0xca), math.Float32bits(float32(v.Float()))), nil
		}
		c.dec = decFloat
	case reflect.Float64:
		c.scalar = 'f'
		c.enc = func(b []byte, v reflect.Value, _ *Encoder) ([]byte, error) {
			return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(v.Float())), nil
		}
		c.dec = decFloat
	case reflect.String:
		c.scalar = 's'
		c.enc = func(b []byte, v reflect.Value, _ *Encoder) ([]byte, error) { return appendStr(b, v.String()), nil }
		c.dec = decString
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			c.enc = func(b []byte, v reflect.Value, _ *Encoder) ([]byte, error) {
				if v.IsNil() {
					return append(b, 0xc0), nil
				}
				return appendBin(b, v.Bytes()), nil
			}
			c.dec = decByteSlice
			break
		}
		cmp.slice(t, c)
	case reflect.Array:
		cmp.array(t, c)
	case reflect.Map:
		cmp.mapping(t, c)
	case reflect.Pointer:
		cmp.pointer(t, c)
	case reflect.Struct:
		cmp.structure(t, c)
	default: // checkType refuses the rest; should one get here, msgpack/v5 says what it thinks
		cmp.fallback(t, c)
	}
	return c
}

// fileCodec encodes an *os.File as its index in the encoder's Files,
// which the caller passes beside the envelope, and decodes it as the
// decoder's file at that index, each at most once.
func fileCodec(c *codec) {
	c.enc = func(b []byte, v reflect.Value, e *Encoder) ([]byte, error) {
		if v.IsNil() {
			return append(b, 0xc0), nil
		}
		e.Files = append(e.Files, v.Interface().(*os.File))
		return appendUint(b, uint64(len(e.Files)-1)), nil
	}
	c.dec = func(r *reader, v reflect.Value, d *Decoder) error {
		if r.isNil() {
			v.SetZero()
			return nil
		}
		i, err := r.uint("file", math.MaxInt32)
		if err != nil {
			return err
		}
		if d == nil || i >= uint64(len(d.Files)) || d.Files[i] == nil {
			return r.fail("file", "descriptor %d is not attached (or used twice)", i)
		}
		v.Set(reflect.ValueOf(d.Files[i]))
		d.Files[i] = nil
		return nil
	}
}

// fallback hands values of t to msgpack/v5.
func (cmp *compiler) fallback(t reflect.Type, c *codec) {
	c.enc = func(b []byte, v reflect.Value, e *Encoder) ([]byte, error) {
		if !v.CanAddr() && t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface {
			// Methods with pointer receivers need an addressable value.
			nv := reflect.New(t).Elem()
			nv.Set(v)
			v = nv
		}
		e.w.b = b
		err := e.enc.EncodeValue(v)
		b, e.w.b = e.w.b, nil
		return b, err
	}
	c.dec = func(r *reader, v reflect.Value, d *Decoder) error {
		if r.isNil() {
			v.SetZero()
			return nil
		}
		start := r.off
		if err := r.skip("payload", r.depth); err != nil {
			return err
		}
		return d.fallbackDecode(r.b[start:r.off], v)
	}
}

func (cmp *compiler) slice(t reflect.Type, c *codec) {
	ec := cmp.compile(t.Elem())
	empty := reflect.MakeSlice(t, 0, 0) // shared by every decoded empty slice
	c.enc = func(b []byte, v reflect.Value, e *Encoder) ([]byte, error) {
		if v.IsNil() {
			return append(b, 0xc0), nil
		}
		if err := e.descend(); err != nil {
			return b, err
		}
		n := v.Len()
		b = appendArrayHeader(b, n)
		var err error
		for i := range n {
			if b, err = ec.enc(b, v.Index(i), e); err != nil {
				return b, err
			}
		}
		e.ascend()
		return b, nil
	}
	c.dec = func(r *reader, v reflect.Value, d *Decoder) error {
		if r.isNil() {
			v.SetZero()
			return nil
		}
		n, err := r.arrayHeader("payload")
		if err != nil {
			return err
		}
		if err := r.descend(); err != nil {
			return err
		}
		defer r.ascend()
		switch {
		case n == 0:
			v.Set(empty)
		case v.Cap() < n:
			v.SetZero()
			v.Grow(n) // allocates the array only, not a slice header
			v.SetLen(n)
		default:
			v.SetLen(n)
		}
		for i := range n {
			if err := ec.dec(r, v.Index(i), d); err != nil {
				return err
			}
		}
		return nil
	}
}

func (cmp *compiler) array(t reflect.Type, c *codec) {
	ec := cmp.compile(t.Elem())
	n := t.Len()
	if t.Elem().Kind() == reflect.Uint8 {
		c.enc = func(b []byte, v reflect.Value, _ *Encoder) ([]byte, error) {
			b = appendBinHeader(b, n)
			for i := range n {
				b = append(b, byte(v.Index(i).Uint()))
			}
			return b, nil
		}
		c.dec = func(r *reader, v reflect.Value, d *Decoder) error {
			if r.isNil() {
				v.SetZero()
				return nil
			}
			s, err := r.strOrBin("payload", math.MaxInt32)
			if err != nil {
				return err
			}
			v.SetZero()
			for i := range min(n, len(s)) {
				v.Index(i).SetUint(uint64(s[i]))
			}
			return nil
		}
		return
	}
	c.enc = func(b []byte, v reflect.Value, e *Encoder) ([]byte, error) {
		if err := e.descend(); err != nil {
			return b, err
		}
		b = appendArrayHeader(b, n)
		var err error
		for i := range n {
			if b, err = ec.enc(b, v.Index(i), e); err != nil {
				return b, err
			}
		}
		e.ascend()
		return b, nil
	}
	c.dec = func(r *reader, v reflect.Value, d *Decoder) error {
		if r.isNil() {
			v.SetZero()
			return nil
		}
		m, err := r.arrayHeader("payload")
		if err != nil {
			return err
		}
		if err := r.descend(); err != nil {
			return err
		}
		defer r.ascend()
		v.SetZero()
		for i := range m {
			if i >= n {
				if err := r.skip("payload", r.depth); err != nil {
					return err
				}
				continue
			}
			if err := ec.dec(r, v.Index(i), d); err != nil {
				return err
			}
		}
		return nil
	}
}

func (cmp *compiler) mapping(t reflect.Type, c *codec) {
	kc, vc := cmp.compile(t.Key()), cmp.compile(t.Elem())
	c.enc = func(b []byte, v reflect.Value, e *Encoder) ([]byte, error) {
		if v.IsNil() {
			return append(b, 0xc0), nil
		}
		if err := e.descend(); err != nil {
			return b, err
		}
		b = appendMapHeader(b, v.Len())
		var it reflect.MapIter
		it.Reset(v)
		var err error
		for it.Next() {
			if b, err = kc.enc(b, it.Key(), e); err != nil {
				return b, err
			}
			if b, err = vc.enc(b, it.Value(), e); err != nil {
				return b, err
			}
		}
		e.ascend()
		return b, nil
	}
	c.dec = func(r *reader, v reflect.Value, d *Decoder) error {
		if r.isNil() {
			v.SetZero()
			return nil
		}
		n, err := r.mapHeader("payload")
		if err != nil {
			return err
		}
		if err := r.descend(); err != nil {
			return err
		}
		defer r.ascend()
		if v.IsNil() {
			v.Set(reflect.MakeMapWithSize(t, n))
		}
		k, e := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
		for range n {
			k.SetZero()
			e.SetZero()
			if err := kc.dec(r, k, d); err != nil {
				return err
			}
			if err := vc.dec(r, e, d); err != nil {
				return err
			}
			if !k.Comparable() {
				return r.fail("payload", "map key of type %v is not comparable", t.Key())
			}
			v.SetMapIndex(k, e)
		}
		return nil
	}
}

func (cmp *compiler) pointer(t reflect.Type, c *codec) {
	ec := cmp.compile(t.Elem())
	c.enc = func(b []byte, v reflect.Value, e *Encoder) ([]byte, error) {
		if v.IsNil() {
			return append(b, 0xc0), nil
		}
		if err := e.descend(); err != nil {
			return b, err
		}
		b, err := ec.enc(b, v.Elem(), e)
		e.ascend()
		return b, err
	}
	c.dec = func(r *reader, v reflect.Value, d *Decoder) error {
		if r.isNil() {
			v.SetZero()
			return nil
		}
		if err := r.descend(); err != nil {
			return err
		}
		defer r.ascend()
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return ec.dec(r, v.Elem(), d)
	}
}

// ---- decoding primitives ----

func decBool(r *reader, v reflect.Value, _ *Decoder) error {
	c, err := r.byte1("payload")
	if err != nil {
		return err
	}
	switch c {
	case 0xc2, 0xc0:
		v.SetBool(false)
	case 0xc3:
		v.SetBool(true)
	default:
		r.off--
		return r.fail("payload", "want a bool for %v, found type byte 0x%02x", v.Type(), c)
	}
	return nil
}

func decInt(r *reader, v reflect.Value, _ *Decoder) error {
	if r.isNil() {
		v.SetInt(0)
		return nil
	}
	start := r.off
	n, err := r.number("payload")
	if err != nil {
		return err
	}
	i, ok := n.int64()
	if !ok || v.OverflowInt(i) {
		r.off = start
		return r.fail("payload", "%v does not fit in %v", n, v.Type())
	}
	v.SetInt(i)
	return nil
}

func decUint(r *reader, v reflect.Value, _ *Decoder) error {
	if r.isNil() {
		v.SetUint(0)
		return nil
	}
	start := r.off
	n, err := r.number("payload")
	if err != nil {
		return err
	}
	u, ok := n.uint64()
	if !ok || v.OverflowUint(u) {
		r.off = start
		return r.fail("payload", "%v does not fit in %v", n, v.Type())
	}
	v.SetUint(u)
	return nil
}

func decFloat(r *reader, v reflect.Value, _ *Decoder) error {
	if r.isNil() {
		v.SetFloat(0)
		return nil
	}
	n, err := r.number("payload")
	if err != nil {
		return err
	}
	v.SetFloat(n.float64())
	return nil
}

func decString(r *reader, v reflect.Value, d *Decoder) error {
	if r.isNil() {
		v.SetString("")
		return nil
	}
	s, err := r.strOrBin("payload", math.MaxInt32)
	if err != nil {
		return err
	}
	v.SetString(d.payloadString(s))
	return nil
}

func decByteSlice(r *reader, v reflect.Value, d *Decoder) error {
	if r.isNil() {
		v.SetZero()
		return nil
	}
	s, err := r.strOrBin("payload", math.MaxInt32)
	if err != nil {
		return err
	}
	if d != nil && d.Alias {
		v.SetBytes(s[:len(s):len(s)])
		return nil
	}
	v.SetBytes(append([]byte{}, s...))
	return nil
}

// number is a decoded msgpack number.
type number struct {
	kind byte // 'i' signed, 'u' unsigned, 'f' float
	i    int64
	u    uint64
	f    float64
}

func (n number) String() string {
	switch n.kind {
	case 'i':
		return fmt.Sprint(n.i)
	case 'u':
		return fmt.Sprint(n.u)
	}
	return fmt.Sprint(n.f)
}

func (n number) int64() (int64, bool) {
	switch n.kind {
	case 'i':
		return n.i, true
	case 'u':
		return int64(n.u), n.u <= math.MaxInt64
	}
	return int64(n.f), n.f == math.Trunc(n.f) && n.f >= math.MinInt64 && n.f < math.MaxInt64
}

func (n number) uint64() (uint64, bool) {
	switch n.kind {
	case 'i':
		return uint64(n.i), n.i >= 0
	case 'u':
		return n.u, true
	}
	return uint64(n.f), n.f == math.Trunc(n.f) && n.f >= 0 && n.f < math.MaxUint64
}

func (n number) float64() float64 {
	switch n.kind {
	case 'i':
		return float64(n.i)
	case 'u':
		return float64(n.u)
	}
	return n.f
}

// ---- encoding primitives ----

func appendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0:
		return appendUint(b, uint64(v))
	case v >= -32:
		return append(b, byte(v))
	case v >= math.MinInt8:
		return append(b, 0xd0, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
}

func appendBinHeader(b []byte, n int) []byte {
	switch {
	case n <= math.MaxUint8:
		return append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xc5), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
}

func appendBin(b, p []byte) []byte { return append(appendBinHeader(b, len(p)), p...) }

func appendArrayHeader(b []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
}

func appendMapHeader(b []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(b, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdf), uint32(n))
}
