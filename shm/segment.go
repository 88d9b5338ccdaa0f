package shm

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// Kind says what a segment holds. The ring uses KindRing; packages built on
// shm define their own kinds at KindUser and above.
type Kind uint32

// Segment kinds.
const (
	KindRing Kind = 1     // an MPMC ring (see Ring)
	KindUser Kind = 0x100 // first kind free for other packages
)

// LayoutVersion is the segment header version this build writes and
// accepts.
const LayoutVersion = 1

// HeaderSize is the size of the segment header; the body starts at this
// offset, on a page boundary.
const HeaderSize = 4096

// magic is "SHMACTOR" read as a little-endian uint64.
var magic = binary.LittleEndian.Uint64([]byte("SHMACTOR"))

// Header field offsets (bytes). See docs/shm-layout.md.
const (
	hdrMagic   = 0  // u64, written last when the segment is ready
	hdrVersion = 8  // u32
	hdrKind    = 12 // u32
	hdrSize    = 16 // u64, total file size
	hdrBodyOff = 24 // u64, = HeaderSize
	hdrPid     = 32 // u64, creator's pid
	hdrCreated = 40 // u64, creation time, Unix nanoseconds
)

// MaxSegmentSize bounds a segment's size: 1 GiB on 32-bit platforms, 64 GiB
// elsewhere.
const MaxSegmentSize = 1 << (30 + 6*(^uint(0)>>63))

// Segment is a named, mapped file inside a Dir: a validated header followed
// by a body whose layout belongs to the segment's kind. Body returns the
// mapped body bytes; Word32 and Word64 return atomic handles on them.
//
// A Segment is safe for concurrent use. The caller must not use Body or
// words taken from it after Close.
type Segment struct {
	dir  *Dir
	name string
	kind Kind
	m    *mapping
	mem  []byte
	body []byte

	closed atomic.Bool
	broken atomic.Bool
}

// CreateSegment creates a segment of the given kind whose body has at least
// bodySize bytes. init, when not nil, fills the body before the segment
// becomes visible under its name: the file is prepared under a temporary
// name and linked into place only when complete, so no other process can
// open a half-built segment, and an existing segment is never replaced
// (ErrExist).
func (d *Dir) CreateSegment(name string, kind Kind, bodySize int, init func(body []byte) error) (s *Segment, err error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if err := d.checkOpen(); err != nil {
		return nil, err
	}
	defer d.ops.RUnlock()
	if bodySize < 0 || uint64(bodySize)+HeaderSize > uint64(MaxSegmentSize) {
		return nil, fmt.Errorf("%w: segment %s body size %d (max %d)", ErrInvalidConfig, name, bodySize, uint64(MaxSegmentSize)-HeaderSize)
	}
	if _, _, err := d.sys.open(name); err == nil {
		return nil, fmt.Errorf("%w: create %s", ErrExist, filepath.Join(d.path, name))
	}
	size := HeaderSize + roundUp(bodySize, pageSize)
	tmp := d.tmpName()
	f, err := d.sys.create(tmp, int64(size))
	if err != nil {
		return nil, err
	}
	defer f.close()
	m, err := f.mmap(size)
	if err != nil {
		d.sys.remove(tmp)
		return nil, err
	}
	s = &Segment{dir: d, name: name, kind: kind, m: m, mem: m.bytes()}
	s.body = s.mem[HeaderSize:]
	defer s.guard(&err, faultOn())
	defer func() {
		if err != nil {
			m.unmap()
			d.sys.remove(tmp)
		}
	}()
	h := s.mem[:HeaderSize]
	binary.LittleEndian.PutUint32(h[hdrVersion:], LayoutVersion)
	binary.LittleEndian.PutUint32(h[hdrKind:], uint32(kind))
	binary.LittleEndian.PutUint64(h[hdrSize:], uint64(size))
	binary.LittleEndian.PutUint64(h[hdrBodyOff:], HeaderSize)
	binary.LittleEndian.PutUint64(h[hdrPid:], uint64(os.Getpid()))
	binary.LittleEndian.PutUint64(h[hdrCreated:], uint64(time.Now().UnixNano()))
	if init != nil {
		if err := init(s.body); err != nil {
			return nil, fmt.Errorf("shm: init %s: %w", filepath.Join(d.path, name), err)
		}
	}
	atomic.StoreUint64(&u64s(h[:8])[0], magic) // ready
	if err := d.sys.publish(tmp, name); err != nil {
		return nil, err
	}
	return s, nil
}

// OpenSegment opens and maps an existing segment, refusing a symlink, a
// file with the wrong owner or mode, and a header whose magic, version,
// kind or size does not check out.
func (d *Dir) OpenSegment(name string, kind Kind) (s *Segment, err error) {
	return d.openSegment(name, kind, false)
}

// OpenSegmentReadOnly is OpenSegment with a read-only mapping: a write
// to the body faults. (Windows maps it writable.)
func (d *Dir) OpenSegmentReadOnly(name string, kind Kind) (s *Segment, err error) {
	return d.openSegment(name, kind, true)
}

func (d *Dir) openSegment(name string, kind Kind, readOnly bool) (s *Segment, err error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if err := d.checkOpen(); err != nil {
		return nil, err
	}
	defer d.ops.RUnlock()
	f, fsize, err := d.sys.open(name)
	if err != nil {
		return nil, err
	}
	defer f.close()
	path := filepath.Join(d.path, name)
	if fsize < HeaderSize {
		return nil, fmt.Errorf("%w: %s is %d bytes, smaller than the %d-byte header", ErrTruncated, path, fsize, HeaderSize)
	}
	if uint64(fsize) > uint64(MaxSegmentSize) {
		return nil, fmt.Errorf("%w: %s is %d bytes (max %d)", ErrCorrupt, path, fsize, uint64(MaxSegmentSize))
	}
	var m *mapping
	if readOnly {
		m, err = f.mmapRO(int(fsize))
	} else {
		m, err = f.mmap(int(fsize))
	}
	if err != nil {
		return nil, err
	}
	s = &Segment{dir: d, name: name, kind: kind, m: m, mem: m.bytes()}
	s.body = s.mem[HeaderSize:]
	defer func() {
		if err != nil {
			m.unmap()
		}
	}()
	defer s.guard(&err, faultOn())
	if err := s.validate(uint64(fsize), kind); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Segment) validate(fsize uint64, kind Kind) error {
	h := s.mem[:HeaderSize]
	path := s.path()
	switch mg := atomic.LoadUint64(&u64s(h[:8])[0]); {
	case mg == 0:
		return fmt.Errorf("%w: %s", ErrNotReady, path)
	case mg != magic:
		return fmt.Errorf("%w: %s starts with %x", ErrBadMagic, path, h[:8])
	}
	if v := binary.LittleEndian.Uint32(h[hdrVersion:]); v != LayoutVersion {
		return fmt.Errorf("%w: %s has layout version %d, this build reads %d", ErrVersion, path, v, LayoutVersion)
	}
	if k := Kind(binary.LittleEndian.Uint32(h[hdrKind:])); k != kind {
		return fmt.Errorf("%w: %s holds kind %d, want %d", ErrKind, path, k, kind)
	}
	if sz := binary.LittleEndian.Uint64(h[hdrSize:]); sz != fsize {
		if sz > fsize {
			return fmt.Errorf("%w: %s header says %d bytes, file has %d", ErrTruncated, path, sz, fsize)
		}
		return fmt.Errorf("%w: %s header says %d bytes, file has %d", ErrCorrupt, path, sz, fsize)
	}
	if off := binary.LittleEndian.Uint64(h[hdrBodyOff:]); off != HeaderSize {
		return fmt.Errorf("%w: %s body offset %d, want %d", ErrCorrupt, path, off, HeaderSize)
	}
	return nil
}

// Name returns the segment's name within its directory.
func (s *Segment) Name() string { return s.name }

// Kind returns the segment's kind.
func (s *Segment) Kind() Kind { return s.kind }

// Size returns the mapped size in bytes, header included.
func (s *Segment) Size() int { return len(s.mem) }

// Body returns the mapped bytes after the header. Other processes may
// change them at any time: treat them as untrusted input, and copy before
// validating.
func (s *Segment) Body() []byte { return s.body }

// CreatorPID returns the pid recorded by the segment's creator.
func (s *Segment) CreatorPID() int {
	return int(binary.LittleEndian.Uint64(s.mem[hdrPid:]))
}

func (s *Segment) path() string { return filepath.Join(s.dir.path, s.name) }

// Close unmaps the segment. It does not remove the file (see Unlink).
// Closing twice is harmless.
func (s *Segment) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	return s.m.unmap()
}

// Unlink removes the segment's name from its directory. Processes that
// have it mapped keep using it until they close it.
func (s *Segment) Unlink() error { return s.dir.Remove(s.name) }

// Word32 returns an atomic handle on the 4-byte-aligned uint32 at byte
// offset off of the body.
func (s *Segment) Word32(off int) (Word32, error) {
	if off < 0 || off%4 != 0 || off+4 > len(s.body) {
		return Word32{}, fmt.Errorf("%w: segment %s: word32 at offset %d (body %d bytes, 4-byte alignment)", ErrInvalidConfig, s.name, off, len(s.body))
	}
	return Word32{p: &u32s(s.body[off : off+4])[0]}, nil
}

// Word64 returns an atomic handle on the 8-byte-aligned uint64 at byte
// offset off of the body.
func (s *Segment) Word64(off int) (Word64, error) {
	if off < 0 || off%8 != 0 || off+8 > len(s.body) {
		return Word64{}, fmt.Errorf("%w: segment %s: word64 at offset %d (body %d bytes, 8-byte alignment)", ErrInvalidConfig, s.name, off, len(s.body))
	}
	return Word64{p: &u64s(s.body[off : off+8])[0]}, nil
}

const pageSize = 4096

func roundUp(n, to int) int { return (n + to - 1) / to * to }
