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
func RegisterMessage[T any]() error {
	t := reflect.TypeFor[T]()
	if _, ok := wire.DefaultName(t); !ok {
		return fmt.Errorf("%w %v: it has no package-qualified name; use RegisterMessageName", ErrRegistration, t)
	}
	return registrationErr(t, wire.Register[T](wire.Default))
}

// RegisterMessageName registers T under an explicit name, for types
// without a package-qualified name and for names that must stay stable
// when a type moves. An empty name, a name taken by another type, or a
// type registered under another name make an error wrapping
// ErrRegistration.
func RegisterMessageName[T any](name string) error {
	return registrationErr(reflect.TypeFor[T](), wire.RegisterName[T](wire.Default, name))
}

// registrationErr says why t could not be registered, in this package's
// terms.
func registrationErr(t reflect.Type, err error) error {
	if err == nil {
		return nil
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
