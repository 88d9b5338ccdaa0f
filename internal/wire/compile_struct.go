package wire

import (
	"math"
	"reflect"
)

// structField is one encoded field of a struct.
type structField struct {
	index     int         // in the innermost struct
	via       []embedStep // embedded structs on the way; nil for the struct's own fields
	name      string
	key       []byte // the field name, msgpack-encoded
	omitEmpty bool
	zero      func(reflect.Value) bool // for omitempty
	c         *codec
}

// value returns the field's value in struct v, and whether it is written:
// not when an embedded pointer on the way is nil, nor when it is
// omitempty and zero.
func (f *structField) value(v reflect.Value) (reflect.Value, bool) {
	for _, s := range f.via {
		v = v.Field(s.index)
		if s.ptr {
			if v.IsNil() {
				return v, false
			}
			v = v.Elem()
		}
	}
	v = v.Field(f.index)
	return v, !f.omitEmpty || !f.zero(v)
}

// zeroFunc returns a test for the zero value of t, bit for bit: reflect's
// IsZero takes -0.0 for zero, and omitempty must not turn it into +0.0.
func zeroFunc(t reflect.Type) func(reflect.Value) bool {
	if holdsFloat(t) {
		return bitsZero
	}
	return reflect.Value.IsZero
}

// holdsFloat reports whether t's own bytes hold a float.
func holdsFloat(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		return true
	case reflect.Array:
		return holdsFloat(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsFloat(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

func bitsZero(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		return math.Float64bits(v.Float()) == 0
	case reflect.Array:
		for i := range v.Len() {
			if !bitsZero(v.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := range v.NumField() {
			if !bitsZero(v.Field(i)) {
				return false
			}
		}
		return true
	}
	return v.IsZero()
}

// target returns the field's value in struct v for decoding into,
// allocating the embedded pointers on the way.
func (f *structField) target(v reflect.Value) reflect.Value {
	for _, s := range f.via {
		v = v.Field(s.index)
		if s.ptr {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
	}
	return v.Field(f.index)
}

// structure compiles a struct, laid out by layout: the struct's own fields
// and those of its embedded structs, inlined.
func (cmp *compiler) structure(t reflect.Type, c *codec) {
	info, lerr := layout(t, nil)
	if lerr != nil { // checkType refuses such types; not reached for registered ones
		cmp.fallback(t, c)
		return
	}
	fields := make([]structField, len(info))
	byName := make(map[string]int, len(info))
	dynamic := false // whether the number of fields written varies
	for i, f := range info {
		fields[i] = structField{index: f.index, via: f.via, name: f.name, key: appendStr(nil, f.name), omitEmpty: f.omitEmpty, zero: zeroFunc(f.typ)}
		byName[f.name] = i
		for _, s := range f.via {
			dynamic = dynamic || s.ptr
		}
		dynamic = dynamic || f.omitEmpty
	}
	for i := range fields {
		fields[i].c = cmp.compile(info[i].typ)
	}
	c.enc = func(b []byte, v reflect.Value, e *Encoder) ([]byte, error) {
		if err := e.descend(); err != nil {
			return b, err
		}
		n := len(fields)
		if dynamic {
			for i := range fields {
				if _, ok := fields[i].value(v); !ok {
					n--
				}
			}
		}
		b = appendMapHeader(b, n)
		var err error
		for i := range fields {
			f := &fields[i]
			var fv reflect.Value
			if f.via == nil && !f.omitEmpty {
				fv = v.Field(f.index)
			} else {
				var ok bool
				if fv, ok = f.value(v); !ok {
					continue
				}
			}
			b = append(b, f.key...)
			switch f.c.scalar {
			case 's':
				b = appendStr(b, fv.String())
			case 'i':
				b = appendInt(b, fv.Int())
			case 'u':
				b = appendUint(b, fv.Uint())
			default:
				if b, err = f.c.enc(b, fv, e); err != nil {
					return b, err
				}
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
		if err := r.descend(); err != nil {
			return err
		}
		defer r.ascend()
		if r.peekArray() { // msgpack/v5's as_array form: fields in order
			n, err := r.arrayHeader("payload")
			if err != nil {
				return err
			}
			for i := range n {
				if i >= len(fields) {
					if err := r.skip("payload", r.depth); err != nil {
						return err
					}
					continue
				}
				if err := fields[i].c.dec(r, fields[i].target(v), d); err != nil {
					return err
				}
			}
			return nil
		}
		n, err := r.mapHeader("payload")
		if err != nil {
			return err
		}
		for i := range n {
			key, err := r.strOrBin("payload", MaxString)
			if err != nil {
				return err
			}
			// Fields usually come in the order we write them.
			j := -1
			if i < len(fields) && string(key) == fields[i].name {
				j = i
			} else if k, ok := byName[string(key)]; ok {
				j = k
			}
			if j < 0 {
				if err := r.skip("payload", r.depth); err != nil {
					return err
				}
				continue
			}
			f := &fields[j]
			var fv reflect.Value
			if f.via == nil {
				fv = v.Field(f.index)
			} else {
				fv = f.target(v)
			}
			if err := decField(r, fv, f.c, d); err != nil {
				return err
			}
		}
		return nil
	}
}

// decField decodes one struct field, scalars inline.
func decField(r *reader, fv reflect.Value, c *codec, d *Decoder) error {
	switch c.scalar {
	case 's':
		if r.off < len(r.b) && r.b[r.off]&0xe0 == 0xa0 { // fixstr
			s, err := r.str("payload", MaxString)
			if err != nil {
				return err
			}
			fv.SetString(d.payloadString(s))
			return nil
		}
		return decString(r, fv, d)
	case 'i':
		if r.off < len(r.b) && r.b[r.off] <= 0x7f { // positive fixint
			fv.SetInt(int64(r.b[r.off]))
			r.off++
			return nil
		}
		return decInt(r, fv, d)
	case 'u':
		if r.off < len(r.b) && r.b[r.off] <= 0x7f {
			fv.SetUint(uint64(r.b[r.off]))
			r.off++
			return nil
		}
		return decUint(r, fv, d)
	case 'f':
		return decFloat(r, fv, d)
	case 'b':
		return decBool(r, fv, d)
	}
	return c.dec(r, fv, d)
}
