package actor

import (
	"fmt"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/internal/wire"
)

// RegisterMessage registers T as a message type that can cross processes,
// under its package-qualified name ("example.com/shop.Order", with "*" for
// pointer types). Every process that sends or receives T must register it,
// typically in an init function. The type delivered is exactly T: register
// *Order to send and receive *Order.
func RegisterMessage[T any]() error {
	if err := wire.Register[T](wire.Default); err != nil {
		return fmt.Errorf("shmactor: %w", err)
	}
	return nil
}

// RegisterMessageName registers T under an explicit name, for types
// without a package-qualified name and for names that must stay stable
// when a type moves.
func RegisterMessageName[T any](name string) error {
	if err := wire.RegisterName[T](wire.Default, name); err != nil {
		return fmt.Errorf("shmactor: %w", err)
	}
	return nil
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
