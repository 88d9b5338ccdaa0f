package wire

import (
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"google.golang.org/protobuf/types/known/structpb"
)

// Types registration refuses, each for one reason.
type (
	withChan   struct{ Done chan struct{} }
	withFunc   struct{ OnDone func() }
	withUnsafe struct{ P unsafe.Pointer }
	withCmplx  struct{ Z complex128 }
	withAny    struct{ Payload any }
	withError  struct{ Err error }
	withSecret struct {
		Name   string
		secret string
	}
	withPtrPtr   struct{ P **int }
	withPtrSlice struct{ P *[]int }
	withPtrMap   struct{ P *map[string]int }
	withPtrKey   struct{ M map[*int]string }
	withTimeKey  struct{ M map[time.Time]string }
	withDeepKey  struct {
		M map[struct{ P *int }]bool
	}
	withSkipKey struct {
		M map[struct {
			A int
			b int `msgpack:"-"`
		}]int
	}
	withPtrInKey struct{ M map[struct{ *Account }]int }
	withProtoVal struct{ V structpb.Value }
	embedsTime   struct {
		time.Time
		Name string
	}
	embedsProto struct {
		*structpb.Value
		Note string
	}
	onlyMarshal struct{ X int }
	mixedCodec  struct{ X int }
	withTagOpt  struct {
		S string `msgpack:",intern"`
	}
	withStructOpt struct {
		_msgpack struct{} `msgpack:",as_array"`
		A        int
	}
	withDupTags struct {
		A int `msgpack:"x"`
		B int `msgpack:"x"`
	}
	Account      struct{ Balance int64 }
	embedsShadow struct {
		Account
		Balance int64
	}
	OmitAll struct {
		N int `msgpack:",omitempty"`
	}
	embedsOmitAll  struct{ *OmitAll }
	account        struct{ Balance int64 }
	embedsUnexpPtr struct{ *account }
	Loop           struct {
		*Loop
		N int
	}
	deepBad struct {
		Orders []struct {
			Owner *struct {
				Name string
				Hook func()
			}
		}
	}
	recursiveBad struct {
		Kids []*recursiveBad
		C    chan int
	}
)

func (onlyMarshal) MarshalBinary() ([]byte, error) { return nil, nil }
func (mixedCodec) MarshalBinary() ([]byte, error)  { return nil, nil }
func (*mixedCodec) UnmarshalText([]byte) error     { return nil }

// Registration refuses each type some of whose values would not arrive as
// sent, naming the field, its type and why, as a *TypeError wrapping
// ErrRegistration.
func TestRegisterRefuses(t *testing.T) {
	for _, tc := range []struct {
		typ    reflect.Type
		field  string
		reason string
	}{
		{reflect.TypeFor[*withChan](), "Done", "channel"},
		{reflect.TypeFor[withFunc](), "OnDone", "function"},
		{reflect.TypeFor[withUnsafe](), "P", "unsafe.Pointer"},
		{reflect.TypeFor[withCmplx](), "Z", "complex"},
		{reflect.TypeFor[withAny](), "Payload", "concrete type"},
		{reflect.TypeFor[withError](), "Err", "interface"},
		{reflect.TypeFor[any](), "", "interface type cannot be registered"},
		{reflect.TypeFor[*withSecret](), "secret", "unexported"},
		{reflect.TypeFor[withPtrPtr](), "P", "pointer to a pointer"},
		{reflect.TypeFor[withPtrSlice](), "P", "pointer to a slice"},
		{reflect.TypeFor[withPtrMap](), "P", "pointer to a map"},
		{reflect.TypeFor[withPtrKey](), "M[key]", "compares by address"},
		{reflect.TypeFor[withTimeKey](), "M[key]", "time.Time map key"},
		{reflect.TypeFor[withDeepKey](), "M[key].P", "compares by address"},
		{reflect.TypeFor[withSkipKey](), "M[key].b", "would become one"},
		{reflect.TypeFor[withPtrInKey](), "M[key].Account.Balance", "embedded pointer"},
		{reflect.TypeFor[withProtoVal](), "V", "use *structpb.Value"},
		{reflect.TypeFor[structpb.Value](), "", "use *structpb.Value"},
		{reflect.TypeFor[*embedsTime](), "", "gets MarshalBinary from its embedded field Time"},
		{reflect.TypeFor[*embedsProto](), "", "gets ProtoReflect from its embedded field Value"},
		{reflect.TypeFor[onlyMarshal](), "", "not encoding.BinaryUnmarshaler"},
		{reflect.TypeFor[mixedCodec](), "", "written with encoding.BinaryMarshaler but read with encoding.TextUnmarshaler"},
		{reflect.TypeFor[withTagOpt](), "S", `tag option "intern"`},
		{reflect.TypeFor[withStructOpt](), "_msgpack", "struct-wide"},
		{reflect.TypeFor[withDupTags](), "B", `both encode as "x"`},
		{reflect.TypeFor[embedsShadow](), "Balance", "noinline"},
		{reflect.TypeFor[embedsOmitAll](), "OmitAll", "could arrive nil"},
		{reflect.TypeFor[embedsUnexpPtr](), "account", "unexported type"},
		{reflect.TypeFor[Loop](), "Loop", "embeds itself"},
		{reflect.TypeFor[deepBad](), "Orders[].Owner.Hook", "function"},
		{reflect.TypeFor[*recursiveBad](), "C", "channel"},
		{reflect.TypeFor[map[string]any](), "[]", "interface"},
		{reflect.TypeFor[[]chan int](), "[]", "channel"},
	} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			err := RegisterType(NewRegistry(), tc.typ, "x")
			var te *TypeError
			if !errors.Is(err, ErrRegistration) || !errors.As(err, &te) {
				t.Fatalf("err = %v, want a *TypeError wrapping ErrRegistration", err)
			}
			if te.Field != tc.field || !strings.Contains(te.Reason, tc.reason) || te.Type != tc.typ {
				t.Fatalf("field %q, reason %q; want field %q, a reason mentioning %q", te.Field, te.Reason, tc.field, tc.reason)
			}
			if tc.field != "" && !strings.Contains(err.Error(), "field "+tc.field+" (") {
				t.Fatalf("message %q does not name the field", err)
			}
		})
	}
}

// Types registration accepts: whatever makes the trip.
type (
	skipsOnPurpose struct {
		Name  string
		cache map[string]int `msgpack:"-"`
		Hook  func()         `msgpack:"-"`
		_     [0]func()      // padding: no one reads it
	}
	embedsAll struct {
		Account
		*Audit
		inner
		Label string `msgpack:"label,omitempty"`
	}
	Audit struct{ By string }
	inner struct{ Depth int }
	// A struct with its own encoding keeps it, embedded time.Time or not.
	ownCodec struct {
		time.Time
		N int
	}
	mutualA struct{ B *mutualB }
	mutualB struct{ A []mutualA }
	keyed   struct {
		M map[[2]int8]map[struct{ A, B string }]float64
	}
	noinline struct {
		Account `msgpack:",noinline"`
		Balance int64
	}
)

func (o ownCodec) MarshalBinary() ([]byte, error)  { return nil, nil }
func (o *ownCodec) UnmarshalBinary(b []byte) error { return nil }

func TestRegisterAccepts(t *testing.T) {
	for _, typ := range []reflect.Type{
		reflect.TypeFor[*skipsOnPurpose](), reflect.TypeFor[embedsAll](), reflect.TypeFor[*ownCodec](),
		reflect.TypeFor[*mutualA](), reflect.TypeFor[keyed](), reflect.TypeFor[noinline](),
		reflect.TypeFor[*zooTree](), reflect.TypeFor[*time.Time](), reflect.TypeFor[*big.Int](),
		reflect.TypeFor[*structpb.Value](), reflect.TypeFor[map[float64]uintptr](), reflect.TypeFor[[3][]*Audit](),
	} {
		if err := RegisterType(NewRegistry(), typ, "x"); err != nil {
			t.Errorf("%v: %v", typ, err)
		}
	}
}
