package shm

import (
	"fmt"
	"os"
)

// PageSize is the system's memory page size in bytes.
var PageSize = os.Getpagesize()

// BodyPageOffset returns the smallest offset of a segment's body at or
// after off that starts a memory page: where to put bytes that Protect
// will make read-only.
func BodyPageOffset(off int) int { return roundUp(HeaderSize+off, PageSize) - HeaderSize }

// Protect makes n bytes of the segment's body from byte offset off
// read-only in this process (or writable again): a write through this
// mapping then faults instead of changing what other processes see. off
// must start a page (BodyPageOffset) and n reach a page's end or the
// body's. Windows does not support it and leaves the view writable.
func (s *Segment) Protect(off, n int, readOnly bool) error {
	if off < 0 || n < 0 || (HeaderSize+off)%PageSize != 0 || (n%PageSize != 0 && off+n != len(s.body)) || off+n > len(s.body) {
		return fmt.Errorf("%w: segment %s: protect %d bytes at %d (body %d bytes, page-aligned)", ErrInvalidConfig, s.name, n, off, len(s.body))
	}
	if n == 0 {
		return nil
	}
	return protect(s.body[off:off+n], readOnly)
}

// Rename gives the segment a new name in its directory, failing with
// ErrExist when the name is taken. Processes that have it mapped are
// not affected.
func (s *Segment) Rename(name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := s.dir.checkOpen(); err != nil {
		return err
	}
	defer s.dir.ops.RUnlock()
	if err := s.dir.sys.rename(s.name, name); err != nil {
		return err
	}
	s.name = name
	return nil
}

// Private is memory of this process only, outside the Go heap, mapped
// anonymously: for bytes that must not live in shared memory (a sealed
// blob's plaintext) and must not be scanned or moved by the garbage
// collector.
type Private struct {
	b   []byte // what the caller sees
	all []byte // the whole mapping, whole pages
}

// MapPrivate maps size bytes of zeroed private memory.
func MapPrivate(size int) (*Private, error) {
	if size <= 0 || uint64(size) > uint64(MaxSegmentSize) {
		return nil, fmt.Errorf("%w: private memory of %d bytes (1 to %d)", ErrInvalidConfig, size, uint64(MaxSegmentSize))
	}
	b, err := mapAnon(roundUp(size, PageSize))
	if err != nil {
		return nil, err
	}
	return &Private{b: b[:size:size], all: b}, nil
}

// Bytes returns the memory; nil after Close.
func (p *Private) Bytes() []byte { return p.b }

// Protect makes the memory read-only, or writable again.
func (p *Private) Protect(readOnly bool) error {
	if p.b == nil {
		return ErrClosed
	}
	return protect(p.all, readOnly)
}

// Close unmaps the memory. The caller must not use slices of it
// afterwards.
func (p *Private) Close() error {
	if p.b == nil {
		return nil
	}
	all := p.all
	p.b, p.all = nil, nil
	return unmapAnon(all)
}
