package stream

import (
	"errors"
	"net"
)

// Sentinel errors of the stream layer. Errors of the layers below
// (actor.ErrClosed, registry.ErrInvalidName, mailbox.ErrNodeGone, ...)
// come wrapped, so errors.Is works on them too. A Conn's calls return
// them inside a *net.OpError, as a TCP connection's do; a Conn or
// Listener used after its own Close fails with net.ErrClosed, and a call
// past its deadline with os.ErrDeadlineExceeded.
var (
	// ErrInvalidArgument is returned by Listen and Dial for a nil System
	// or Context.
	ErrInvalidArgument = errors.New("stream: invalid argument")
	// ErrInvalidName is returned by Listen and Dial for a name with a
	// '/' or one the registry refuses (see registry.ValidName).
	ErrInvalidName = errors.New("stream: invalid name")
	// ErrRefused is returned by Dial when nothing listens on the name,
	// the listener closed before it accepted, or its accept queue is
	// full.
	ErrRefused = errors.New("stream: connection refused")
	// ErrPeerGone is returned by Read, once the data that arrived has
	// been read, and by Write, when the other end's process died or
	// left without closing the stream.
	ErrPeerGone = errors.New("stream: peer gone")
	// ErrPeerClosed is returned by Write when the other end has closed
	// the stream (its Read returns io.EOF no more).
	ErrPeerClosed = errors.New("stream: peer closed the stream")
	// ErrWriteClosed is returned by Write after CloseWrite.
	ErrWriteClosed = errors.New("stream: write after CloseWrite")
	// ErrProtocol is returned by Read and Write when the stream is
	// broken: a frame in the pipe did not open with the stream's key
	// (forged, or changed by someone who can write the pipe). A
	// listener offered a pipe it must not open refuses the dialer
	// (ErrRefused) and logs this error.
	ErrProtocol = errors.New("stream: protocol violation")
)

// opErr wraps err as a TCP connection's calls do.
func opErr(op string, src, dst net.Addr, err error) error {
	return &net.OpError{Op: op, Net: network, Source: src, Addr: dst, Err: err}
}
