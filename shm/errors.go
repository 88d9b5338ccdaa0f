package shm

import (
	"errors"
	"fmt"
	"runtime"
)

// Sentinel errors. Every error returned by this package wraps one of them
// (or an os/syscall error) together with the operation and the name or path
// involved, so callers test with errors.Is and log the message as it is.
var (
	// ErrInvalidName is returned when a segment, lease or directory name is
	// empty, too long, or contains characters outside [A-Za-z0-9._-].
	ErrInvalidName = errors.New("shm: invalid name")

	// ErrInvalidConfig is returned when a RingConfig or DirOptions value is
	// out of range; the message names the field.
	ErrInvalidConfig = errors.New("shm: invalid config")

	// ErrInsecure is returned when a directory or file fails the ownership,
	// mode or symlink checks. The concrete error is an *InsecureError.
	ErrInsecure = errors.New("shm: insecure path")

	// ErrExist is returned when creating a segment whose name is taken.
	ErrExist = errors.New("shm: already exists")

	// ErrNotFound is returned when opening a segment that does not exist.
	ErrNotFound = errors.New("shm: not found")

	// ErrBadMagic is returned when a segment does not start with the
	// shmactor magic bytes.
	ErrBadMagic = errors.New("shm: bad magic")

	// ErrVersion is returned when a segment was written with a layout
	// version this build does not understand.
	ErrVersion = errors.New("shm: unsupported layout version")

	// ErrKind is returned when a segment holds a different kind of object
	// than the caller asked for (for example a ring was expected).
	ErrKind = errors.New("shm: wrong segment kind")

	// ErrNotReady is returned when a segment exists but its creator has not
	// finished initialising it (or died while doing so).
	ErrNotReady = errors.New("shm: segment not initialised")

	// ErrCorrupt is returned when a header field, index or length read from
	// shared memory is out of range.
	ErrCorrupt = errors.New("shm: corrupt segment")

	// ErrTruncated is returned when a segment file is smaller than its
	// header says.
	ErrTruncated = errors.New("shm: segment truncated")

	// ErrFault is returned when touching a segment's memory raised a fault
	// (SIGBUS after the file was truncated under us, for example). The
	// handle is unusable afterwards.
	ErrFault = errors.New("shm: memory fault")

	// ErrClosed is returned by operations on a closed handle.
	ErrClosed = errors.New("shm: closed")

	// ErrTooLarge is returned when a record exceeds the ring's maximum
	// record size. Records are never truncated.
	ErrTooLarge = errors.New("shm: record too large")

	// ErrFull is returned by TryPush when the ring has no room, and wrapped
	// with the context's error by Push when its deadline passes.
	ErrFull = errors.New("shm: ring full")

	// ErrEmpty is returned by TryPop when no record is ready, and wrapped
	// with the context's error by Pop when its deadline passes.
	ErrEmpty = errors.New("shm: ring empty")

	// ErrReclaimed is returned by a push whose claimed slot was reclaimed
	// before it could commit, because the producer stalled longer than the
	// ring's reclaim timeout. The record was not delivered.
	ErrReclaimed = errors.New("shm: slot reclaimed before commit")

	// ErrTooManyOwners is returned when a ring's owner table is full of live
	// processes.
	ErrTooManyOwners = errors.New("shm: too many processes attached")

	// ErrUnsupported is returned on platforms without shared-memory
	// support; it wraps errors.ErrUnsupported.
	ErrUnsupported = fmt.Errorf("shm: %w on %s/%s", errors.ErrUnsupported, runtime.GOOS, runtime.GOARCH)
)

// InsecureError reports a path that failed a security check: wrong owner,
// loose mode, a symlink, or a file of the wrong type. It wraps ErrInsecure.
type InsecureError struct {
	Path   string // the offending path
	Reason string // what was wrong, e.g. "mode 0777, want 0700"
}

// Error describes the error.
func (e *InsecureError) Error() string {
	return fmt.Sprintf("shm: insecure path %s: %s", e.Path, e.Reason)
}

// Unwrap returns ErrInsecure.
func (e *InsecureError) Unwrap() error { return ErrInsecure }

func insecure(path, format string, args ...any) error {
	return &InsecureError{Path: path, Reason: fmt.Sprintf(format, args...)}
}
