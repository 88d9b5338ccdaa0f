package actor

import "errors"

// Sentinel errors of the actor layer. Errors from the layers below
// (registry.ErrNameTaken, mailbox.ErrFull, ...) are returned wrapped, so
// errors.Is works on them too.
var (
	// ErrInvalidOption is returned by Join for an option with a bad value.
	ErrInvalidOption = errors.New("shmactor: invalid option")
	// ErrNotShmPID is returned for a PID whose address is not a node of
	// this namespace.
	ErrNotShmPID = errors.New("shmactor: PID is not of this namespace")
	// ErrUnregistered is returned when a message's type is not registered
	// for crossing processes (see RegisterMessage).
	ErrUnregistered = errors.New("shmactor: message type not registered")
	// ErrModeMismatch is returned by Join when the namespace's nodes seal
	// their messages and this one is asked not to, or the other way round.
	ErrModeMismatch = errors.New("shmactor: sealed/plaintext mismatch with the namespace")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("shmactor: system closed")
)
