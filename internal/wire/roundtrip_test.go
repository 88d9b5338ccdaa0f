package wire

import (
	"errors"
	"flag"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/shmactor/shmactor/internal/wire/wiretest"
)

var seed = flag.Uint64("wire.seed", 1, "seed of the generated types and values of TestGeneratedTypesRoundTrip")

// Property: for generated types of every shape the codec handles, every
// generated value decodes to what was encoded. Deterministic for a seed;
// the seed is logged, and -wire.seed replays another.
func TestGeneratedTypesRoundTrip(t *testing.T) {
	const types, values = 300, 20
	t.Logf("seed %d (replay with -run %s -wire.seed=%d)", *seed, t.Name(), *seed)
	ts, names := wiretest.Types(*seed, types)
	r := NewRegistry()
	for i, typ := range ts {
		if err := RegisterType(r, typ, names[i]); err != nil {
			t.Fatalf("seed %d: %s: %v", *seed, names[i], err)
		}
	}
	rng := rand.New(rand.NewPCG(*seed, 1))
	enc, dec := NewEncoder(r), NewDecoder(r)
	var b []byte
	for i, typ := range ts {
		for range values {
			v := wiretest.Value(rng, typ).Interface()
			var err error
			if b, err = enc.AppendPayload(b[:0], v); err != nil {
				t.Fatalf("seed %d: %s: encode %#v: %v", *seed, names[i], v, err)
			}
			got, err := dec.Payload(names[i], b)
			if err != nil {
				t.Fatalf("seed %d: %s: decode: %v\nsent %#v", *seed, names[i], err, v)
			}
			if d := wiretest.Diff(v, got); d != "" {
				t.Fatalf("seed %d: %s (%v): %s\nsent %#v\n got %#v", *seed, names[i], typ, d, v, got)
			}
		}
	}
}

// Hand-picked values at the edges, each of which once arrived changed.
type (
	Person struct {
		Name string
	}
	member struct {
		*Person // nil: no person
		Role    string
	}
	edges struct {
		I8      int8
		I64     int64
		U64     uint64
		F32     float32
		F64     float64
		NegZero float64 `msgpack:",omitempty"`
		Empty   []int   `msgpack:",omitempty"`
		Nil     []int   `msgpack:",omitempty"`
		EmptyM  map[uint8]bool
		Bytes   []byte
		Arr     [2][]string
		When    time.Time
		Zero    time.Time
		Members []member
	}
)

func TestEdgeValuesRoundTrip(t *testing.T) {
	r := NewRegistry()
	for _, err := range []error{Register[*member](r), Register[*edges](r), Register[*skipsOnPurpose](r)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []any{
		&member{Role: "guest"},
		&member{Person: &Person{}, Role: "anonymous"},
		&member{Person: &Person{Name: "ada"}},
		&edges{I8: math.MinInt8, I64: math.MinInt64, U64: math.MaxUint64, F32: float32(math.NaN()), F64: math.Inf(-1),
			NegZero: math.Copysign(0, -1), Empty: []int{}, EmptyM: map[uint8]bool{}, Bytes: []byte{},
			Arr: [2][]string{nil, {}}, When: time.Date(2026, 3, 4, 5, 6, 7, 8, time.FixedZone("x", 3600)),
			Members: []member{{}, {Person: &Person{Name: "b"}}}},
		&edges{F64: math.NaN(), U64: 1 << 63, I64: math.MaxInt64, When: time.Now()},
		&skipsOnPurpose{Name: "n", cache: map[string]int{"left": 1}, Hook: func() {}},
	} {
		b, err := NewEncoder(r).AppendPayload(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := r.NameOf(v)
		got, err := NewDecoder(r).Payload(name, b)
		if err != nil {
			t.Fatalf("%#v: %v", v, err)
		}
		if d := wiretest.Diff(v, got); d != "" {
			t.Errorf("%s\nsent %+v\n got %+v", d, v, got)
		}
	}
}

// A time.Time keeps its instant to the nanosecond; it arrives in
// time.Local without a monotonic reading, and the zero time arrives as
// the zero time.
func TestTimeRoundTrip(t *testing.T) {
	r := NewRegistry()
	if err := RegisterName[time.Time](r, "time"); err != nil {
		t.Fatal(err)
	}
	for _, sent := range []time.Time{time.Now(), time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Unix(-1, 5).In(time.FixedZone("y", -7200)), {}} {
		b, _ := NewEncoder(r).AppendPayload(nil, sent)
		v, err := NewDecoder(r).Payload("time", b)
		if err != nil {
			t.Fatal(err)
		}
		got := v.(time.Time)
		switch {
		case !got.Equal(sent):
			t.Errorf("sent %v, got %v", sent, got)
		case sent.IsZero() && got != (time.Time{}):
			t.Errorf("the zero time arrived as %#v", got)
		case !sent.IsZero() && got.Location() != time.Local:
			t.Errorf("sent %v, got it in %v, want time.Local", sent, got.Location())
		case got != got.Round(0):
			t.Errorf("%v arrived with a monotonic reading", got)
		}
	}
}

// Protobuf messages travel as protobuf, oneofs and all, at the top and
// inside structs.
type withProtos struct {
	One  *structpb.Value
	Many []*structpb.Value
	ByID map[string]*structpb.Struct
}

func TestProtoRoundTrip(t *testing.T) {
	r := NewRegistry()
	for _, err := range []error{Register[*structpb.Value](r), Register[*withProtos](r)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	nested, err := structpb.NewValue(map[string]any{"n": 1.5, "s": "x", "l": []any{true, nil, "y"}, "m": map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := structpb.NewStruct(map[string]any{"k": "v"})
	for _, v := range []any{
		structpb.NewStringValue("héllo"), structpb.NewNumberValue(math.Inf(1)), structpb.NewNullValue(), nested, &structpb.Value{}, (*structpb.Value)(nil),
		&withProtos{One: nested, Many: []*structpb.Value{nil, structpb.NewBoolValue(true)}, ByID: map[string]*structpb.Struct{"a": st, "nil": nil}},
		&withProtos{},
	} {
		b, err := NewEncoder(r).AppendPayload(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := r.NameOf(v)
		got, err := NewDecoder(r).Payload(name, b)
		if err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		if d := wiretest.Diff(v, got); d != "" {
			t.Errorf("%s", d)
		}
	}
	// What protobuf refuses to marshal is an encoding error at the sender.
	_, err = NewEncoder(r).AppendPayload(nil, structpb.NewStringValue("\xff"))
	if !errors.Is(err, ErrEncode) {
		t.Fatalf("invalid UTF-8 in a proto string: %v, want ErrEncode", err)
	}
	// And bytes that are not the message are a payload error at the receiver.
	if _, err := NewDecoder(r).Payload("*google.golang.org/protobuf/types/known/structpb.Value", []byte{0xc4, 2, 0xff, 0xff}); !errors.Is(err, ErrPayload) {
		t.Fatalf("garbage protobuf: %v, want ErrPayload", err)
	}
}

type chain struct{ Next *chain }

func chainOf(n int) *chain {
	var c *chain
	for range n {
		c = &chain{Next: c}
	}
	return c
}

// The encoder refuses exactly the values the decoder would refuse as too
// deep, so a sender learns at once; a cyclic value is one of them.
func TestEncoderDepthMatchesDecoder(t *testing.T) {
	r := NewRegistry()
	if err := Register[*chain](r); err != nil {
		t.Fatal(err)
	}
	name, _ := r.NameOf(&chain{})
	longest := 0
	for n := 1; ; n++ {
		if _, err := NewEncoder(r).AppendPayload(nil, chainOf(n)); err != nil {
			if !errors.Is(err, ErrEncode) || !strings.Contains(err.Error(), "nested deeper") {
				t.Fatalf("chain of %d: %v", n, err)
			}
			break
		}
		longest = n
	}
	b, _ := NewEncoder(r).AppendPayload(nil, chainOf(longest))
	if _, err := NewDecoder(r).Payload(name, b); err != nil {
		t.Fatalf("the longest chain the encoder takes (%d) does not decode: %v", longest, err)
	}
	// One more link, written by msgpack/v5, which has no limit.
	b, err := msgpack.Marshal(chainOf(longest + 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewDecoder(r).Payload(name, b); !errors.Is(err, ErrPayload) {
		t.Fatalf("a chain the encoder refuses (%d) decodes: %v", longest+1, err)
	}
	cyclic := &chain{}
	cyclic.Next = cyclic
	if _, err := NewEncoder(r).AppendPayload(nil, cyclic); !errors.Is(err, ErrEncode) || !strings.Contains(err.Error(), "cyclic") {
		t.Fatalf("cyclic value: %v", err)
	}
}
