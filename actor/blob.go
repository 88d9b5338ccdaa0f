package actor

import (
	"errors"
	"fmt"

	"github.com/shmactor/shmactor/mailbox"
	"github.com/shmactor/shmactor/shm"
)

// Blob is a buffer of bulk bytes in shared memory that crosses to another
// process without being encoded or copied: fill Bytes in place, then send
// the Blob itself as a message (Send, Request, Respond; to one receiver).
// The receiving actor gets a *Blob whose Bytes are a read-only view of
// the same pages (plaintext System), or of its own copy opened from the
// sealed bytes in one pass of the cipher (sealed System, the default; no
// plaintext of a blob ever lies in shared memory then). It must call
// Release when done with it.
//
// Ownership: once sent, a Blob is its receiver's: the sender's Bytes
// returns nil, and sending or releasing it again fails with
// mailbox.ErrBlobSent. Slices taken from Bytes must not be used after
// the Blob is sent (plaintext: its pages are made read-only at the send,
// so a write faults instead of changing what the receiver reads) or
// released (they are unmapped). A send that fails leaves the Blob the
// sender's, unsent. A Blob sent to an actor of the same
// process is the same object: the rules are the caller's to keep.
//
// A Blob carries no message headers. Blobs being filled count against
// the node's out-of-line quota (WithOutOfLineQuota).
type Blob = mailbox.Blob

// maxBlob is the largest blob, in bytes.
const maxBlob = uint64(shm.MaxSegmentSize) / 2

// NewBlob allocates a zeroed Blob of size bytes (1 up to half the
// largest segment: 512 MiB on 32-bit platforms, 32 GiB elsewhere) for
// this process to fill and send. It fails with ErrInvalidArgument for a
// bad size, mailbox.ErrQuota past the quota, and ErrClosed after Close.
func (s *System) NewBlob(size int) (*Blob, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("%w: new blob", ErrClosed)
	}
	b, err := s.mb.NewBlob(size)
	if errors.Is(err, mailbox.ErrInvalidArgument) {
		return nil, &userError{msg: fmt.Sprintf("shmactor: new blob of %d bytes: a blob holds 1 to %d bytes", size, maxBlob), err: ErrInvalidArgument}
	}
	return b, err
}
