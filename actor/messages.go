package actor

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/internal/wire"
)

// RegisterMessage registers T as a message type that can cross processes,
// under its package-qualified name ("example.com/shop.Order", with "*" for
// pointer types). Every process that sends or receives T must register it,
// typically in an init function. The type delivered is exactly T: register
// *Order to send and receive *Order. A type without a package-qualified
// name (int, []byte, an unnamed struct) needs RegisterMessageName; it and
// a type already registered under another name make an error wrapping
// ErrRegistration. Registering a type again under its name is harmless.
//
// A value of a registered type arrives in the other process as it was
// sent, so RegisterMessage refuses, with an error wrapping ErrRegistration
// that names the field and says why, a type holding anything that cannot
// make the trip: channels, functions, unsafe.Pointer, complex numbers,
// interface fields (any, error: the receiver could not know which
// concrete type to make), unexported fields (tag one `msgpack:"-"` to
// leave it out on purpose; it arrives zero), pointers to pointers, slices
// or maps, map keys that compare by address. Structs travel as msgpack
// maps keyed by field name, embedded structs inlined; nil and empty
// slices and maps, nil pointers (embedded ones too), NaN, -0 and every
// integer keep what they are. A time.Time keeps its instant; it arrives in
// time.Local, without a monotonic reading. Protobuf messages (pointers to
// types implementing proto.Message, such as *structpb.Value) travel as
// protobuf. docs/wire-format.md ("Which Go types cross") has the full
// rules.
func RegisterMessage[T any]() error {
	t := reflect.TypeFor[T]()
	if _, ok := wire.DefaultName(t); !ok {
		return fmt.Errorf("%w %v: it has no package-qualified name; use RegisterMessageName", ErrRegistration, t)
	}
	return registrationErr(t, wire.Register[T](wire.Default))
}

// RegisterMessageName registers T under an explicit name, for types
// without a package-qualified name and for names that must stay stable
// when a type moves. An empty name, a name taken by another type, a type
// registered under another name, or a type RegisterMessage would refuse
// make an error wrapping ErrRegistration.
func RegisterMessageName[T any](name string) error {
	return registerType(reflect.TypeFor[T](), name)
}

// registerType registers t under name.
func registerType(t reflect.Type, name string) error {
	return registrationErr(t, wire.RegisterType(wire.Default, t, name))
}

// registrationErr says why t could not be registered, in this package's
// terms.
func registrationErr(t reflect.Type, err error) error {
	if err == nil {
		return nil
	}
	var te *wire.TypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%w %v: %s", ErrRegistration, t, te.Detail())
	}
	if errors.Is(err, wire.ErrRegistration) {
		why := strings.TrimPrefix(err.Error(), wire.ErrRegistration.Error()+": ")
		return fmt.Errorf("%w %v: %s", ErrRegistration, t, why)
	}
	return fmt.Errorf("%w %v: %w", ErrRegistration, t, err)
}

// protoactor-go's own messages that cross processes.
func init() {
	for _, err := range []error{
		wire.RegisterName[*proto.Watch](wire.Default, "protoactor.Watch"),
		wire.RegisterName[*proto.Unwatch](wire.Default, "protoactor.Unwatch"),
		wire.RegisterName[*proto.Terminated](wire.Default, "protoactor.Terminated"),
		wire.RegisterName[*proto.Stop](wire.Default, "protoactor.Stop"),
		wire.RegisterName[*proto.Restart](wire.Default, "protoactor.Restart"),
		wire.RegisterName[*proto.ResumeMailbox](wire.Default, "protoactor.ResumeMailbox"),
		wire.RegisterName[*proto.PoisonPill](wire.Default, "protoactor.PoisonPill"),
		wire.RegisterName[*proto.DeadLetterResponse](wire.Default, "protoactor.DeadLetterResponse"),
		wire.RegisterName[*proto.Touch](wire.Default, "protoactor.Touch"),
		wire.RegisterName[*proto.Touched](wire.Default, "protoactor.Touched"),
	} {
		if err != nil {
			panic(err)
		}
	}
}
