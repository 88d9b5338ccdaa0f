package registry

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors; the concrete errors wrap them with the name, node or
// path involved.
var (
	// ErrNameTaken is returned by Register when another live node holds
	// the name. The error is a *NameTakenError naming the holder.
	ErrNameTaken = errors.New("registry: name taken")

	// ErrNotFound is returned for a name or node that is not registered.
	ErrNotFound = errors.New("registry: not found")

	// ErrInvalidName is returned for a name, namespace or option outside
	// the documented rules; the message says which rule.
	ErrInvalidName = errors.New("registry: invalid name")

	// ErrNotOwner is returned when a node tries to remove a name another
	// node holds.
	ErrNotOwner = errors.New("registry: name held by another node")

	// ErrBadRecord is returned for a record file that does not parse.
	ErrBadRecord = errors.New("registry: malformed record")

	// ErrClosed is returned after Close.
	ErrClosed = errors.New("registry: closed")
)

// NameTakenError is returned by Register when the name is held.
type NameTakenError struct {
	Name   string
	Holder uint64 // the node holding it
	Self   bool   // the holder is this node
}

// Error describes the error.
func (e *NameTakenError) Error() string {
	if e.Self {
		return fmt.Sprintf("registry: name %q is already registered by this node", e.Name)
	}
	return fmt.Sprintf("registry: name %q is taken by node %016x", e.Name, e.Holder)
}

// Unwrap returns ErrNameTaken.
func (e *NameTakenError) Unwrap() error { return ErrNameTaken }

// opError is the failure of an operation ("register \"orders\"") for a
// reason that is an error of this package: its message names the package
// once ("registry: register "orders": malformed record: ...").
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string {
	return "registry: " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "registry: ")
}

func (e *opError) Unwrap() error { return e.err }
