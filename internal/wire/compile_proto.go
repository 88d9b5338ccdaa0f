package wire

import (
	"math"
	"reflect"

	"google.golang.org/protobuf/proto"
)

// Protobuf messages (protoactor's own among them) are not walked by
// reflection: their generated structs hold internal state in unexported
// fields and oneofs in interface fields, neither of which msgpack can
// carry. They travel as proto.Marshal's bytes in a msgpack bin (nil for a
// nil message) and are read back with proto.Unmarshal, which copies what
// it keeps, so a decoded message never points into the envelope's memory.
// Compare them with proto.Equal, not reflect.DeepEqual.

// maxScratch bounds the marshal buffer an Encoder keeps between messages.
const maxScratch = 64 << 10

// protoCodec compiles t, a pointer to a generated protobuf message.
func protoCodec(t reflect.Type, c *codec) {
	elem := t.Elem()
	c.enc = func(b []byte, v reflect.Value, e *Encoder) ([]byte, error) {
		if v.IsNil() {
			return append(b, 0xc0), nil
		}
		p, err := proto.MarshalOptions{}.MarshalAppend(e.scratch[:0], v.Interface().(proto.Message))
		if err != nil {
			return b, err
		}
		if cap(p) <= maxScratch {
			e.scratch = p
		}
		return appendBin(b, p), nil
	}
	c.dec = func(r *reader, v reflect.Value, _ *Decoder) error {
		if r.isNil() {
			v.SetZero()
			return nil
		}
		start := r.off
		s, err := r.strOrBin("payload", math.MaxInt32)
		if err != nil {
			return err
		}
		m := reflect.New(elem)
		if err := proto.Unmarshal(s, m.Interface().(proto.Message)); err != nil {
			r.off = start
			return r.fail("payload", "protobuf %v: %v", elem, err)
		}
		v.Set(m)
		return nil
	}
}
