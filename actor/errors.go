package actor

import "errors"

// Sentinel errors of the actor layer. Errors from the layers below
// (registry.ErrNameTaken, mailbox.ErrFull, ...) are returned wrapped, so
// errors.Is works on them too.
var (
	// ErrInvalidOption is returned by Join for an option with a bad value,
	// or a nil Option.
	ErrInvalidOption = errors.New("shmactor: invalid option")
	// ErrInvalidArgument is returned for an argument no call accepts: a
	// nil PID, a nil message, nil Props, or a timeout that is not
	// positive. (A name that breaks the registry's rules is
	// registry.ErrInvalidName.)
	ErrInvalidArgument = errors.New("shmactor: invalid argument")
	// ErrNotShmPID is returned by Send and Request for a PID that is
	// neither this process's nor a node's of this namespace, and that no
	// other address resolver of the actor system knows.
	ErrNotShmPID = errors.New("shmactor: PID is not of this namespace")
	// ErrUnregistered is returned when a message's type is not registered
	// for crossing processes (see RegisterMessage).
	ErrUnregistered = errors.New("shmactor: message type not registered")
	// ErrEncode is returned for a message of a registered type that cannot
	// be encoded: it nests deeper than 100 levels (a cyclic value does),
	// a protobuf message refuses to marshal (invalid UTF-8 in a string
	// field), or the type's own marshaling method fails. (A type with a
	// field that cannot cross at all, such as a channel, does not
	// register.)
	ErrEncode = errors.New("shmactor: message cannot be encoded")
	// ErrRegistration is returned by RegisterMessage and
	// RegisterMessageName for a type or name that cannot be registered,
	// among them types some of whose values would not arrive as they were
	// sent; the message names the field and the reason.
	ErrRegistration = errors.New("shmactor: cannot register message type")
	// ErrModeMismatch is returned by Join when the namespace's nodes seal
	// their messages and this one is asked not to, or the other way round.
	ErrModeMismatch = errors.New("shmactor: sealed/plaintext mismatch with the namespace")
	// ErrClosed is returned by every call of a System once Close has
	// begun (Close itself excepted: closing twice is harmless).
	ErrClosed = errors.New("shmactor: system closed")
)

// userError is an error whose message says, in the caller's terms, what
// was asked and why it failed, and which wraps the sentinel that
// classifies it without repeating the sentinel's text (a lookup of a name
// nobody holds: `shmactor: lookup "orders": no actor has that name in
// namespace "shop"`, which is registry.ErrNotFound).
type userError struct {
	msg string
	err error
}

func (e *userError) Error() string { return e.msg }
func (e *userError) Unwrap() error { return e.err }
