package wire

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

type testItem struct {
	SKU   string
	Qty   int32
	Price float64
}

type testOrder struct {
	ID       uint64
	Customer string
	Items    []testItem
	Tags     map[string]string
	Note     *string
	Total    float64
	Meta     map[string][]int8
	Raw      []byte
}

type testPing struct{ N int }

type testStrings []string

func testRegistry(t testing.TB) *Registry {
	r := NewRegistry()
	for _, err := range []error{
		Register[*testOrder](r),
		Register[testPing](r),
		Register[*testPing](r),
		RegisterName[map[string]int](r, "counts"),
		Register[testStrings](r),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func TestHeaderRoundTrip(t *testing.T) {
	long := strings.Repeat("x", MaxString)
	for _, h := range []Header{
		{Kind: KindUser, From: 1, To: 2, Target: "orders", Type: "a.B", Seq: 1, Epoch: 1},
		{Kind: KindSystem, Flags: FlagSealed, From: math.MaxUint64, To: 0, SenderAddress: "node-7", SenderID: "$42/child", Target: "$99", Corr: math.MaxUint64, Seq: math.MaxUint64, Epoch: math.MaxUint32},
		{Kind: KindPublish, Target: "orders.eu.created", Type: "*example.com/shop.Order", Seq: 300, Corr: 70000},
		{Kind: KindControl, SenderAddress: long, SenderID: long, Target: long, Type: long, Seq: 1 << 40},
		{Kind: KindUser, Target: "naïve ünïcode ✓"},
	} {
		b := AppendHeader(nil, &h)
		d := NewDecoder(NewRegistry())
		got, n, err := d.Header(append(b, 0xc0))
		if err != nil {
			t.Fatalf("%+v: %v", h, err)
		}
		if n != len(b) || got != h {
			t.Fatalf("round trip of %+v: got %+v, length %d of %d", h, got, n, len(b))
		}
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	r := testRegistry(t)
	note := "leave at the door"
	for _, v := range []any{
		&testOrder{ID: 7, Customer: "ada", Items: []testItem{{"a", 1, 2.5}, {"b", 2, 0}}, Tags: map[string]string{"x": "y"}, Note: &note, Total: 5, Meta: map[string][]int8{"k": {1, -2}, "nil": nil}, Raw: []byte{0, 1}},
		&testOrder{}, // zero value: nil slices, maps, pointers
		&testOrder{Items: []testItem{}, Tags: map[string]string{}},
		testPing{N: -3},
		&testPing{N: 9},
		map[string]int{"a": 1, "b": 2},
		testStrings{"p", "", "q"},
		nil,
	} {
		name, err := r.NameOf(v)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewEncoder(r).AppendPayload([]byte("prefix"), v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(p, []byte("prefix")) {
			t.Fatal("AppendPayload did not append")
		}
		got, err := NewDecoder(r).Payload(name, p[len("prefix"):])
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Fatalf("round trip of %T:\n got %#v\nwant %#v", v, got, v)
		}
	}
}

func TestRawMessage(t *testing.T) {
	r := testRegistry(t)
	p, _ := NewEncoder(r).AppendPayload(nil, &testPing{N: 5})
	raw, err := NewDecoder(NewRegistry()).Raw("*"+reflect.TypeFor[testPing]().PkgPath()+".testPing", p)
	if err != nil {
		t.Fatal(err)
	}
	// Forward it without knowing the type; the receiver who knows decodes it.
	name, _ := r.NameOf(raw)
	q, err := NewEncoder(NewRegistry()).AppendPayload(nil, raw)
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewDecoder(r).Payload(name, q)
	if err != nil || got.(*testPing).N != 5 {
		t.Fatalf("forwarded raw message decoded as %#v, %v", got, err)
	}
}

func TestRegistration(t *testing.T) {
	r := testRegistry(t)
	if err := Register[*testOrder](r); err != nil {
		t.Fatalf("registering the same type twice: %v", err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"same type, new name", RegisterName[*testOrder](r, "other"), "already registered"},
		{"same name, new type", RegisterName[string](r, "counts"), "already taken"},
		{"unnamed type", Register[[]int](r), "RegisterName"},
		{"builtin type", Register[int](r), "RegisterName"},
		{"empty name", RegisterName[[]byte](r, ""), "want 1 to"},
		{"raw message", Register[*RawMessage](r), "RawMessage"},
	} {
		if !errors.Is(tc.err, ErrRegistration) || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrRegistration mentioning %q", tc.name, tc.err, tc.want)
		}
	}
	if n, _ := DefaultName(reflect.TypeFor[*testOrder]()); n != "*github.com/shmactor/shmactor/internal/wire.testOrder" {
		t.Errorf("DefaultName = %q", n)
	}
}

func TestTypeErrors(t *testing.T) {
	r := testRegistry(t)
	_, err := NewEncoder(r).AppendPayload(nil, testOrder{}) // registered as pointer only
	var ue *UnregisteredTypeError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUnregistered) || !strings.Contains(err.Error(), "wire.testOrder") {
		t.Fatalf("encode unregistered: %v", err)
	}
	_, err = NewDecoder(r).Payload("no.such.Type", []byte{0xc0})
	var ke *UnknownTypeError
	if !errors.As(err, &ke) || ke.Name != "no.such.Type" || !errors.Is(err, ErrUnknownType) {
		t.Fatalf("decode unknown name: %v", err)
	}
	// A payload that is valid msgpack but not the type.
	p, _ := NewEncoder(r).AppendPayload(nil, map[string]int{"a": 1})
	name, _ := r.NameOf(&testPing{})
	_, err = NewDecoder(r).Payload(name, append([]byte{0x91}, p...)) // [ {"a":1} ]
	var pe *PayloadError
	if !errors.As(err, &pe) || pe.Name != name || !errors.Is(err, ErrPayload) {
		t.Fatalf("decode mismatched payload: %v", err)
	}
}

func TestHeaderErrors(t *testing.T) {
	good := AppendHeader(nil, &Header{Kind: KindUser, From: 1, To: 2, Target: "t", Type: "x", Seq: 1})
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for _, tc := range []struct {
		name  string
		in    []byte
		err   error
		field string
	}{
		{"empty", nil, ErrMalformed, "header"},
		{"not an array", []byte{0xa1, 'x'}, ErrMalformed, "header"},
		{"too few fields", []byte{0x93, 1, 1, 0}, ErrMalformed, "header"},
		{"truncated", good[:len(good)-1], ErrMalformed, "epoch"},
		{"version", edit(func(b []byte) []byte { b[1] = 2; return b }), ErrVersion, "version"},
		{"kind", edit(func(b []byte) []byte { b[2] = 9; return b }), ErrMalformed, "kind"},
		{"string for from", edit(func(b []byte) []byte { b[4] = 0xa1; return b }), ErrMalformed, "from"},
		{"target length past end", edit(func(b []byte) []byte { b[8] = 0xdb; return b }), ErrTooLarge, "target"},
		{"string too long", AppendHeader(nil, &Header{Kind: KindUser, Target: strings.Repeat("y", MaxString+1)}), ErrTooLarge, "target"},
		{"epoch too large", append(good[:len(good)-1], 0xcf, 0, 0, 0, 1, 0, 0, 0, 0), ErrMalformed, "epoch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := NewDecoder(NewRegistry()).Header(tc.in)
			var fe *FieldError
			if !errors.Is(err, tc.err) || !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("got %v, want %v in field %q", err, tc.err, tc.field)
			}
		})
	}
	d := NewDecoder(NewRegistry())
	d.Max = 10
	if _, _, err := d.Header(good); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("envelope over Max: %v", err)
	}
}

func TestValidate(t *testing.T) {
	deep := bytes.Repeat([]byte{0x91}, MaxDepth+2)
	deep = append(deep, 0xc0)
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"nil", []byte{0xc0}, true},
		{"fixmap", []byte{0x81, 0xa1, 'k', 0x01}, true},
		{"ext", []byte{0xd6, 0xff, 1, 2, 3, 4}, true},
		{"empty", nil, false},
		{"trailing", []byte{0xc0, 0xc0}, false},
		{"array32 claims 4G", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0}, false},
		{"map16 claims more than fits", []byte{0xde, 0x00, 0x03, 0x01, 0x02}, false},
		{"str32 past end", []byte{0xdb, 0, 0, 1, 0, 'a'}, false},
		{"bin8 truncated", []byte{0xc4, 5, 1, 2}, false},
		{"reserved byte", []byte{0xc1}, false},
		{"too deep", deep, false},
	} {
		if err := Validate(tc.in); (err == nil) != tc.ok {
			t.Errorf("%s: Validate = %v, want ok=%v", tc.name, err, tc.ok)
		} else if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v is not ErrMalformed", tc.name, err)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindUser: "user", KindSystem: "system", KindPublish: "publish", KindControl: "control", KindBatch: "batch", 9: "kind(9)"} {
		if k.String() != want {
			t.Errorf("%d: %q", k, k.String())
		}
	}
}

func TestStringMap(t *testing.T) {
	d := NewDecoder(NewRegistry())
	for _, m := range []map[string]string{{}, {"trace": "abc", "": "empty key"}} {
		b := AppendStringMap([]byte{}, m)
		got, n, err := d.StringMap(append(b, 0xc0))
		if err != nil || n != len(b) || !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip of %v: %v, %d, %v", m, got, n, err)
		}
	}
	big := map[string]string{}
	for i := range MaxMeta + 1 {
		big[fmt.Sprint(i)] = ""
	}
	if _, _, err := d.StringMap(AppendStringMap(nil, big)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized map: %v", err)
	}
	if _, _, err := d.StringMap([]byte{0x81, 0x01, 0xa0}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("integer key: %v", err)
	}
}
