package wire

import (
	"fmt"
	"math"
	"reflect"
	"runtime"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/shmactor/shmactor/internal/wire/wiretest"
)

// FuzzDecode decodes arbitrary bytes as an envelope: header, then payload
// of the type the header names. Whatever the bytes, it returns values or
// errors, never panics, allocates in proportion to the input, and what it
// decodes re-encodes to something that decodes to the same.
func FuzzDecode(f *testing.F) {
	r := testRegistry(f)
	for _, v := range zooValues() {
		r.register(reflect.TypeOf(v), fmt.Sprintf("%T", v))
	}
	for _, err := range []error{Register[*structpb.Value](r), Register[*withProtos](r), Register[*member](r), Register[*edges](r)} {
		if err != nil {
			f.Fatal(err)
		}
	}
	enc := NewEncoder(r)
	note := "n"
	nested, _ := structpb.NewValue(map[string]any{"l": []any{1.5, "x", nil}})
	for _, v := range []any{
		&testOrder{ID: 1, Customer: "c", Items: []testItem{{"s", 1, 1}}, Tags: map[string]string{"a": "b"}, Note: &note},
		testPing{N: 1}, &testPing{N: 2}, map[string]int{"x": 1}, testStrings{"a"}, nil,
		nested, &withProtos{One: nested, Many: []*structpb.Value{nil, nested}},
		&member{Person: &Person{Name: "p"}, Role: "r"}, &member{},
		&edges{F64: math.NaN(), NegZero: math.Copysign(0, -1), Empty: []int{}, When: time.Unix(1, 2), Members: []member{{Role: "x"}}},
	} {
		name, _ := r.NameOf(v)
		b := AppendHeader(nil, &Header{Kind: KindUser, From: 1, To: 2, SenderAddress: "a", SenderID: "b", Target: "t", Corr: 3, Type: name, Seq: 4, Epoch: 1})
		b, _ = enc.AppendPayload(b, v)
		f.Add(b)
	}
	for _, v := range zooValues() {
		name, _ := r.NameOf(v)
		b := AppendHeader(nil, &Header{Kind: KindUser, Type: name, Seq: 1})
		b, _ = enc.AppendPayload(b, v)
		f.Add(b)
	}
	f.Add([]byte{0x9c})
	f.Add([]byte{0xdc, 0xff, 0xff})
	f.Add(AppendHeader(nil, &Header{Kind: KindPublish, Type: "counts"}))

	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(r)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		h, n, err := d.Header(b)
		if err != nil {
			return
		}
		v, perr := d.Payload(h.Type, b[n:])
		runtime.ReadMemStats(&ms)
		if grew := ms.TotalAlloc - before; grew > uint64(64*len(b)+1<<16) {
			t.Fatalf("decoding %d bytes allocated %d", len(b), grew)
		}
		// Re-encode and decode again: the same header, the same value.
		h2, _, err := NewDecoder(r).Header(AppendHeader(nil, &h))
		if err != nil || h2 != h {
			t.Fatalf("header re-encoding: %+v vs %+v, %v", h2, h, err)
		}
		if perr != nil {
			return
		}
		p, err := NewEncoder(r).AppendPayload(nil, v)
		if err != nil {
			t.Fatalf("re-encode %T: %v", v, err)
		}
		v2, err := NewDecoder(r).Payload(h.Type, p)
		if err != nil {
			t.Fatalf("decode re-encoded %T: %v", v, err)
		}
		if d := wiretest.Diff(v, v2); d != "" && !hasNaNKey(v) {
			t.Fatalf("round trip changed %#v into %#v: %s", v, v2, d)
		}
	})
}

// hasNaNKey reports values holding a map with a NaN key, which cannot be
// looked up, so cannot be compared.
func hasNaNKey(v any) bool { return nanKeyIn(reflect.ValueOf(v), 0) }

func nanKeyIn(v reflect.Value, depth int) bool {
	if !v.IsValid() || depth > MaxDepth+10 {
		return false
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return !v.IsNil() && nanKeyIn(v.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if nanKeyIn(v.Index(i), depth+1) {
				return true
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if k := it.Key(); k.Kind() == reflect.Float32 || k.Kind() == reflect.Float64 {
				if k.Float() != k.Float() {
					return true
				}
			}
			if nanKeyIn(it.Key(), depth+1) || nanKeyIn(it.Value(), depth+1) {
				return true
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && nanKeyIn(v.Field(i), depth+1) {
				return true
			}
		}
	}
	return false
}

// FuzzDecodeRef feeds DecodeRef arbitrary bytes: it must not panic, and
// what it accepts must encode back to the same bytes.
func FuzzDecodeRef(f *testing.F) {
	f.Add(AppendRef(nil, &Ref{Segment: "ool.1.2-3", Len: 1 << 30, Chunk: 1 << 20, Key: make([]byte, 32), Suite: 1}))
	f.Add(AppendRef(nil, &Ref{Segment: "x", Len: 70000}))
	f.Add([]byte{0x95, 0xa1, 'x', 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0xc4, 0, 0})
	f.Add([]byte{0x95})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRef(b)
		if err != nil {
			return
		}
		if r.Len > math.MaxInt64 || len(r.Key) > maxRefKey || len(r.Segment) > MaxString {
			t.Fatalf("accepted %+v", r)
		}
		r2, err := DecodeRef(AppendRef(nil, &r))
		if err != nil || r2.Segment != r.Segment || r2.Len != r.Len || r2.Chunk != r.Chunk || string(r2.Key) != string(r.Key) || r2.Suite != r.Suite {
			t.Fatalf("round trip of %+v: %+v, %v", r, r2, err)
		}
	})
}
