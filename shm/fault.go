package shm

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Faults. A peer (or anyone with write access to the namespace) can
// truncate a segment file while we have it mapped; touching the lost pages
// then raises SIGBUS. Each operation that touches mapped memory turns on
// debug.SetPanicOnFault for its goroutine, and guard's deferred recover
// converts a fault inside the segment into ErrFault. A fault anywhere else
// is not ours and is re-raised unchanged.

// guard is deferred by every exported operation that touches mapped
// memory: defer s.guard(&err, debug.SetPanicOnFault(true)).
func (s *Segment) guard(errp *error, old bool) {
	debug.SetPanicOnFault(old)
	r := recover()
	if r == nil {
		return
	}
	if f, ok := r.(interface{ Addr() uintptr }); ok {
		if lo, hi := addrRange(s.mem); f.Addr() >= lo && f.Addr() < hi {
			s.broken.Store(true)
			*errp = fmt.Errorf("%w: segment %s at offset %d (file truncated or unmapped?)", ErrFault, s.path(), f.Addr()-lo)
			return
		}
	}
	// Some environments (qemu's user-mode emulation, for one) deliver
	// SIGBUS without the faulting address, and the runtime reports a nil
	// dereference. If the file is verifiably shorter than our mapping, the
	// fault is ours.
	if re, ok := r.(runtime.Error); ok && strings.Contains(re.Error(), "invalid memory address") {
		size, err := s.dir.sizeOf(s.name)
		switch {
		case err == nil && size < int64(len(s.mem)):
			s.broken.Store(true)
			*errp = fmt.Errorf("%w: segment %s truncated to %d bytes under a %d-byte mapping", ErrFault, s.path(), size, len(s.mem))
			return
		case err != nil:
			// Truncated and removed: nothing left to measure. The
			// guarded code only indexes the mapping's slices, so a
			// fault in it is the mapping's.
			s.broken.Store(true)
			*errp = fmt.Errorf("%w: segment %s removed, and its mapping faulted (truncated?)", ErrFault, s.path())
			return
		}
	}
	panic(r)
}

// faultOn is a shorthand for debug.SetPanicOnFault(true), so call sites
// read `defer s.guard(&err, faultOn())`.
func faultOn() bool { return debug.SetPanicOnFault(true) }

// Do runs fn with faults inside the segment's mapping turned into
// ErrFault: code outside this package that reads or writes Body or the
// segment's words directly runs it under Do, so a segment truncated under
// it returns an error instead of killing the process.
func (s *Segment) Do(fn func() error) (err error) {
	defer s.guard(&err, faultOn())
	return fn()
}

// sizeOf returns the size of the file name, for guard. It never waits
// for Close: guard may run inside a call that holds Close off already,
// and a second wait for d.ops would queue behind Close, which waits for
// that call. While Close is pending or done it fails with ErrClosed.
func (d *Dir) sizeOf(name string) (int64, error) {
	if !d.ops.TryRLock() {
		return 0, fmt.Errorf("%w: dir %s", ErrClosed, d.path)
	}
	defer d.ops.RUnlock()
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return 0, fmt.Errorf("%w: dir %s", ErrClosed, d.path)
	}
	return d.sys.size(name)
}
