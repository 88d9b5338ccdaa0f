package wire

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Types exercising every path of the compiled codec and its fallbacks.
type (
	zooScalars struct {
		B    bool
		I    int
		I8   int8
		I16  int16
		I32  int32
		I64  int64
		U    uint
		U8   uint8
		U16  uint16
		U32  uint32
		U64  uint64
		F32  float32
		F64  float64
		S    string
		Long string
	}
	zooContainers struct {
		Bytes    []byte
		Fixed    [4]byte
		Ints     []int
		Strs     []string
		Arr      [3]int16
		ByString map[string]int
		ByInt    map[int]string
		Nested   map[string][]float64
		PtrInt   *int
		Items    []zooScalars
		ItemPtrs []*zooScalars
	}
	zooTags struct {
		Renamed string `msgpack:"r"`
		Skipped string `msgpack:"-"`
		Omit    int    `msgpack:",omitempty"`
		OmitS   string `msgpack:"os,omitempty"`
		OmitP   *int   `msgpack:",omitempty"`
		OmitSub zooOmitAll
		OmitZ   zooOmitAll `msgpack:",omitempty"`
		hidden  int        `msgpack:"-"`
	}
	zooOmitAll struct {
		A int    `msgpack:",omitempty"`
		B string `msgpack:",omitempty"`
	}
	zooFallback struct {
		When   time.Time
		Custom zooCustom
		Embedded
		*EmbeddedPtr
	}
	Embedded    struct{ Inner string }
	EmbeddedPtr struct{ Deep string }
	zooCustom   struct{ v int }
	zooTree     struct {
		Name     string
		Children []*zooTree
		Parent   *zooTree `msgpack:",omitempty"`
	}
)

func (c zooCustom) EncodeMsgpack(e *msgpack.Encoder) error { return e.EncodeInt(int64(c.v * 10)) }
func (c *zooCustom) DecodeMsgpack(d *msgpack.Decoder) error {
	n, err := d.DecodeInt()
	c.v = n / 10
	return err
}

func zooValues() []any {
	n := 42
	return []any{
		&zooScalars{},
		&zooScalars{true, -1, math.MinInt8, math.MinInt16, math.MinInt32, math.MinInt64, math.MaxUint32, math.MaxUint8, math.MaxUint16, math.MaxUint32, math.MaxUint64, 1.5, math.Inf(-1), "s", string(make([]byte, 70000))},
		&zooScalars{I: 127, I8: -32, I16: -33, I32: 128, I64: math.MaxInt64, U16: 256, F64: math.SmallestNonzeroFloat64},
		&zooContainers{},
		&zooContainers{Bytes: []byte{}, Ints: []int{}, Strs: []string{}, ByString: map[string]int{}, Items: []zooScalars{}},
		&zooContainers{Bytes: []byte("bin"), Fixed: [4]byte{1, 2, 3, 4}, Ints: []int{1, -2, 300}, Strs: []string{"a", ""}, Arr: [3]int16{-1, 0, 1},
			ByString: map[string]int{"x": 1}, ByInt: map[int]string{-5: "neg"}, Nested: map[string][]float64{"f": {0.5}},
			PtrInt: &n, Items: []zooScalars{{S: "one"}, {U64: 7}}, ItemPtrs: []*zooScalars{nil, {B: true}}},
		&zooTags{},
		&zooTags{Renamed: "r", Skipped: "not sent", Omit: 3, OmitS: "x", OmitP: &n, OmitSub: zooOmitAll{A: 1}, OmitZ: zooOmitAll{B: "b"}, hidden: 9},
		&zooFallback{When: time.Date(2026, 11, 22, 1, 2, 3, 4, time.UTC), Custom: zooCustom{7}, Embedded: Embedded{"in"}, EmbeddedPtr: &EmbeddedPtr{"deep"}},
		// Not &zooFallback{}: msgpack/v5 writes a nil embedded pointer as
		// its fields, each nil, which read back as a pointer to zeros.
		&zooFallback{EmbeddedPtr: &EmbeddedPtr{}},
		&zooTree{Name: "root", Children: []*zooTree{{Name: "a"}, {Name: "b", Children: []*zooTree{{Name: "c"}}}}},
	}
}

func zooRegistry(t testing.TB) *Registry {
	r := NewRegistry()
	for _, v := range zooValues() {
		if err := r.register(reflect.TypeOf(v), fmt.Sprintf("%T", v)); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// prepare blanks what msgpack/v5 itself does not carry, so values compare.
func prepare(v any) any {
	switch x := v.(type) {
	case *zooTags:
		c := *x
		c.Skipped, c.hidden = "", 0
		return &c
	}
	return v
}

// Our encoding decodes with msgpack/v5, and msgpack/v5's with ours, to the
// same values: the compiled codec speaks msgpack/v5's dialect.
func TestCompiledCodecMatchesMsgpackV5(t *testing.T) {
	r := zooRegistry(t)
	for _, v := range zooValues() {
		t.Run(fmt.Sprintf("%T", v), func(t *testing.T) {
			want := prepare(v)
			name, _ := r.NameOf(v)

			ours, err := NewEncoder(r).AppendPayload(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			if err := Validate(ours); err != nil {
				t.Fatalf("our encoding is not valid msgpack: %v", err)
			}
			viaV5 := reflect.New(reflect.TypeOf(v).Elem())
			if err := msgpack.Unmarshal(ours, viaV5.Interface()); err != nil {
				t.Fatalf("msgpack/v5 cannot decode our encoding: %v", err)
			}
			if !equal(viaV5.Interface(), want) {
				t.Fatalf("ours → v5:\n got %+v\nwant %+v", viaV5.Interface(), want)
			}

			theirs, err := msgpack.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := NewDecoder(r).Payload(name, theirs)
			if err != nil {
				t.Fatalf("we cannot decode msgpack/v5's encoding: %v", err)
			}
			if !equal(got, want) {
				t.Fatalf("v5 → ours:\n got %+v\nwant %+v", got, want)
			}
			back, err := NewDecoder(r).Payload(name, ours)
			if err != nil || !equal(back, want) {
				t.Fatalf("ours → ours: %+v, %v", back, err)
			}
		})
	}
}

func equal(a, b any) bool {
	if fa, ok := a.(*zooFallback); ok && fa != nil {
		fb, _ := b.(*zooFallback)
		if fb == nil {
			return false
		}
		ca, cb := *fa, *fb
		if !ca.When.Equal(cb.When) {
			return false
		}
		ca.When, cb.When = time.Time{}, time.Time{}
		return reflect.DeepEqual(ca, cb)
	}
	return reflect.DeepEqual(a, b)
}

// Values msgpack allows that do not fit the target type are errors that
// say what did not fit, never silently wrong values.
func TestCompiledDecodeMismatches(t *testing.T) {
	r := zooRegistry(t)
	name, _ := r.NameOf(&zooScalars{})
	for _, tc := range []struct {
		name string
		in   map[string]any
		want string
	}{
		{"int8 overflow", map[string]any{"I8": 200}, "does not fit in int8"},
		{"negative into uint", map[string]any{"U": -1}, "does not fit in uint"},
		{"fraction into int", map[string]any{"I": 1.5}, "does not fit in int"},
		{"string into int", map[string]any{"I32": "x"}, "want a number"},
		{"int into bool", map[string]any{"B": 1}, "want a bool"},
		{"map into string", map[string]any{"S": map[string]int{}}, "want a string"},
	} {
		b, _ := msgpack.Marshal(tc.in)
		_, err := NewDecoder(r).Payload(name, b)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
	// Unknown fields are skipped, whole numbers fit floats and ints both.
	b, _ := msgpack.Marshal(map[string]any{"Extra": []int{1, 2}, "F64": 3, "I": 2.0, "S": "ok"})
	v, err := NewDecoder(r).Payload(name, b)
	if err != nil || v.(*zooScalars).F64 != 3 || v.(*zooScalars).I != 2 || v.(*zooScalars).S != "ok" {
		t.Fatalf("lenient decode: %+v, %v", v, err)
	}
}
