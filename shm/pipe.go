package shm

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync/atomic"
)

// Pipe layout (offsets are bytes from the start of the segment body; see
// docs/shm-layout.md):
//
//	   0  direction 0, writer's line: head u64, data doorbell, writer-closed u32
//	 128  direction 0, reader's line: tail u64, space doorbell, reader-closed u32
//	 256  direction 1, writer's line
//	 384  direction 1, reader's line
//	 512  config (read-only after creation): size u64
//	4096  direction 0's bytes, then direction 1's, size bytes each
//
// Each direction is a single-producer single-consumer ring of frames.
// head and tail count bytes since creation; the producer owns head, the
// consumer tail. A frame is an 8-byte header (u32 length, u32 type) and
// the length's bytes, padded to 8. A frame never wraps: when the end of
// the buffer is too close, the producer writes a pad frame that fills it
// and starts again at offset 0.
const (
	phHead       = 0
	phDataBell   = 8
	phWClosed    = 16
	phTail       = 128
	phSpaceBell  = 136
	phRClosed    = 144
	phDirSize    = 256
	phSize       = 512
	pipeDataOff  = 4096
	frameHdr     = 8
	frameData    = 0
	framePad     = 1
	minPipeBytes = 4096
	maxPipeBytes = 1 << 30
)

// KindPipe marks a segment holding a Pipe.
const KindPipe Kind = 2

// Pipe is a pair of byte rings in one segment, one per direction, for two
// processes that talk to each other only: a stream. Each direction has
// one writer and one reader. A writer fills a frame in place in shared
// memory (WriteFrame) and a reader consumes it in place (ReadFrame), so
// bytes are copied once on each side, or sealed and opened straight
// between the caller's buffer and the ring.
//
// A Pipe is safe for concurrent use, but each direction's writer (and
// reader) must be one goroutine at a time.
type Pipe struct {
	seg  *Segment
	size uint64
	dirs [2]PipeDir
}

// PipeDir is one direction of a Pipe.
type PipeDir struct {
	p                 *Pipe
	head, tail        *uint64
	wclosed, rclosed  *uint32
	data              []byte
	dataBell, spcBell Doorbell
	off               int // reader's offset into the current frame (reader-local)
}

// CreatePipe creates a pipe named name whose two directions hold size
// bytes each (a power of two from 4 KiB to 1 GiB). The largest frame is
// size/2 bytes minus 8. It fails with ErrExist when the name is taken and
// ErrInvalidConfig for a bad size.
func CreatePipe(d *Dir, name string, size int) (*Pipe, error) {
	if size < minPipeBytes || size > maxPipeBytes || bits.OnesCount(uint(size)) != 1 {
		return nil, fmt.Errorf("%w: pipe %s size %d bytes (a power of two from %d to %d)", ErrInvalidConfig, name, size, minPipeBytes, maxPipeBytes)
	}
	seg, err := d.CreateSegment(name, KindPipe, pipeDataOff+2*size, func(body []byte) error {
		binary.LittleEndian.PutUint64(body[phSize:], uint64(size))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return attachPipe(seg)
}

// OpenPipe opens the pipe named name, checking its layout.
func OpenPipe(d *Dir, name string) (*Pipe, error) {
	seg, err := d.OpenSegment(name, KindPipe)
	if err != nil {
		return nil, err
	}
	p, err := attachPipe(seg)
	if err != nil {
		seg.Close()
		return nil, err
	}
	return p, nil
}

func attachPipe(seg *Segment) (p *Pipe, err error) {
	defer seg.guard(&err, faultOn())
	body := seg.body
	if len(body) < pipeDataOff {
		return nil, fmt.Errorf("%w: pipe %s body is %d bytes", ErrCorrupt, seg.path(), len(body))
	}
	size := binary.LittleEndian.Uint64(body[phSize:])
	if size < minPipeBytes || size > maxPipeBytes || bits.OnesCount64(size) != 1 || uint64(len(body)) < pipeDataOff+2*size {
		return nil, fmt.Errorf("%w: pipe %s: size %d in a %d-byte body", ErrCorrupt, seg.path(), size, len(body))
	}
	p = &Pipe{seg: seg, size: size}
	words := u64s(body[:pipeDataOff])
	for i := range p.dirs {
		base := i * phDirSize
		d := &p.dirs[i]
		d.p = p
		d.head = &words[(base+phHead)/8]
		d.tail = &words[(base+phTail)/8]
		d.wclosed = &u32s(body[base+phWClosed : base+phWClosed+4])[0]
		d.rclosed = &u32s(body[base+phRClosed : base+phRClosed+4])[0]
		d.data = body[pipeDataOff+uint64(i)*size : pipeDataOff+uint64(i+1)*size]
		if d.dataBell, err = seg.Doorbell(base + phDataBell); err != nil {
			return nil, err
		}
		if d.spcBell, err = seg.Doorbell(base + phSpaceBell); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Name returns the pipe's segment name.
func (p *Pipe) Name() string { return p.seg.name }

// Dir returns direction i (0 or 1).
func (p *Pipe) Dir(i int) *PipeDir { return &p.dirs[i] }

// MaxFrame returns the most bytes one frame carries.
func (p *Pipe) MaxFrame() int { return int(p.size/2) - frameHdr }

// Unlink removes the pipe's name; processes that have it open keep
// using it, and the memory goes when the last one closes it.
func (p *Pipe) Unlink() error { return p.seg.Unlink() }

// Do runs fn with faults inside the pipe's mapping (its file truncated
// under it) turned into ErrFault, as Segment.Do does. Waiting on or
// ringing a PipeDir's doorbells touches the mapping: do it under Do.
func (p *Pipe) Do(fn func() error) error { return p.seg.Do(fn) }

// Close unmaps the pipe. The caller must not use it, or any PipeDir of
// it, afterwards.
func (p *Pipe) Close() error { return p.seg.Close() }

// WriteFrame writes one frame of n bytes (1 to MaxFrame) if there is room
// for it now: fill gets the frame's n bytes, in shared memory, and
// returns how many of them (at most n) make the frame. It reports false,
// without calling fill, when the reader has not yet made room; wait on
// SpaceBell and call again. It fails with ErrClosed when the reader has
// closed its end.
func (d *PipeDir) WriteFrame(n int, fill func(frame []byte) int) (ok bool, err error) {
	defer d.p.seg.guard(&err, faultOn())
	size := d.p.size
	if n <= 0 || n > int(size/2)-frameHdr {
		return false, fmt.Errorf("%w: pipe %s: frame of %d bytes (1 to %d)", ErrInvalidConfig, d.p.seg.name, n, int(size/2)-frameHdr)
	}
	if atomic.LoadUint32(d.rclosed) != 0 {
		return false, fmt.Errorf("%w: pipe %s: the reader has closed", ErrClosed, d.p.seg.name)
	}
	head := atomic.LoadUint64(d.head)
	tail := atomic.LoadUint64(d.tail)
	if !positionsOK(head, tail, size) {
		return false, fmt.Errorf("%w: pipe %s: positions %d..%d in %d bytes", ErrCorrupt, d.p.seg.name, tail, head, size)
	}
	need := frameHdr + align8(uint64(n))
	off := head & (size - 1)
	pad := uint64(0)
	if off+need > size {
		pad = size - off
	}
	if head+pad+need-tail > size {
		return false, nil
	}
	if pad > 0 {
		binary.LittleEndian.PutUint32(d.data[off:], uint32(pad-frameHdr))
		binary.LittleEndian.PutUint32(d.data[off+4:], framePad)
		off = 0
	}
	frame := d.data[off+frameHdr : off+frameHdr+uint64(n) : off+frameHdr+uint64(n)]
	m := fill(frame)
	if m < 0 || m > n {
		panic(fmt.Sprintf("shm: pipe %s: fill returned %d of %d bytes", d.p.seg.name, m, n))
	}
	binary.LittleEndian.PutUint32(d.data[off:], uint32(m))
	binary.LittleEndian.PutUint32(d.data[off+4:], frameData)
	atomic.StoreUint64(d.head, head+pad+frameHdr+align8(uint64(m)))
	d.dataBell.Ring(1)
	return true, nil
}

// positionsOK reports whether a direction's head and tail, which the
// peer can write, are in order, at most size apart and 8-byte aligned:
// the writer computes offsets from them.
func positionsOK(head, tail, size uint64) bool {
	return head >= tail && head-tail <= size && head%8 == 0 && tail%8 == 0
}

// Writable reports whether a frame of n bytes fits now (or WriteFrame
// would fail at once: the reader closed, or the positions are corrupt).
func (d *PipeDir) Writable(n int) (ok bool) {
	var err error
	defer faulted(&ok, &err, true)
	defer d.p.seg.guard(&err, faultOn())
	size := d.p.size
	head, tail := atomic.LoadUint64(d.head), atomic.LoadUint64(d.tail)
	if !positionsOK(head, tail, size) {
		return true
	}
	need := frameHdr + align8(uint64(n))
	off := head & (size - 1)
	pad := uint64(0)
	if off+need > size {
		pad = size - off
	}
	return head+pad+need-tail <= size || atomic.LoadUint32(d.rclosed) != 0
}

// ReadFrame hands fn the unread bytes of the next frame, in shared
// memory, if one is there: fn returns how many it consumed, and the frame
// is released to the writer once all of it is. It reports false when
// nothing is there; wait on DataBell and call again. Lengths and offsets
// read from shared memory are checked: a bad one fails with ErrCorrupt.
func (d *PipeDir) ReadFrame(fn func(frame []byte) int) (ok bool, err error) {
	defer d.p.seg.guard(&err, faultOn())
	size := d.p.size
	for {
		tail := atomic.LoadUint64(d.tail)
		head := atomic.LoadUint64(d.head)
		if head == tail {
			return false, nil
		}
		l, typ, err := d.frameAt(head, tail)
		if err != nil {
			return false, err
		}
		if d.off != 0 && (typ != frameData || uint64(d.off) >= l) {
			// The frame the reader is part way through changed under it.
			return false, fmt.Errorf("%w: pipe %s: frame at %d changed to type %d, %d bytes, after %d were read", ErrCorrupt, d.p.seg.name, tail&(size-1), typ, l, d.off)
		}
		off := tail & (size - 1)
		if typ == framePad {
			atomic.StoreUint64(d.tail, tail+frameHdr+l)
			continue
		}
		frame := d.data[off+frameHdr+uint64(d.off) : off+frameHdr+l : off+frameHdr+l]
		k := fn(frame)
		if k < 0 || k > len(frame) {
			panic(fmt.Sprintf("shm: pipe %s: reader consumed %d of %d bytes", d.p.seg.name, k, len(frame)))
		}
		d.off += k
		if d.off == int(l) {
			d.off = 0
			tail += frameHdr + align8(l)
			atomic.StoreUint64(d.tail, tail)
			// A writer that parked waits for half the ring: one wake-up
			// per half ring rather than per frame, as a pipe's writer
			// is woken (no frame is larger than half the ring).
			if head-tail <= size/2 {
				d.spcBell.Ring(1)
			}
		}
		return true, nil
	}
}

// frameAt decodes and checks the header of the frame at tail.
func (d *PipeDir) frameAt(head, tail uint64) (l uint64, typ uint32, err error) {
	return decodeFrame(d.data, d.p.size, head, tail, d.p.seg.name)
}

// decodeFrame checks the frame header at tail of a buffer of size bytes
// whose writer is at head: the positions must be in order and at most
// size apart, the frame must lie between them without wrapping, and a pad
// frame must reach the end of the buffer.
func decodeFrame(data []byte, size, head, tail uint64, name string) (l uint64, typ uint32, err error) {
	used := head - tail
	off := tail & (size - 1)
	if head < tail || used > size || used < frameHdr || off%8 != 0 {
		return 0, 0, fmt.Errorf("%w: pipe %s: positions %d..%d in %d bytes", ErrCorrupt, name, tail, head, size)
	}
	l = uint64(binary.LittleEndian.Uint32(data[off:]))
	typ = binary.LittleEndian.Uint32(data[off+4:])
	switch typ {
	case framePad:
		if off+frameHdr+l != size || frameHdr+l > used {
			return 0, 0, fmt.Errorf("%w: pipe %s: pad of %d bytes at %d", ErrCorrupt, name, l, off)
		}
	case frameData:
		if l == 0 || off+frameHdr+l > size || frameHdr+align8(l) > used {
			return 0, 0, fmt.Errorf("%w: pipe %s: frame of %d bytes at %d with %d written", ErrCorrupt, name, l, off, used)
		}
	default:
		return 0, 0, fmt.Errorf("%w: pipe %s: frame type %d at %d", ErrCorrupt, name, typ, off)
	}
	return l, typ, nil
}

// Readable reports whether a frame (or the writer's close) is there.
func (d *PipeDir) Readable() (ok bool) {
	var err error
	defer faulted(&ok, &err, true)
	defer d.p.seg.guard(&err, faultOn())
	return atomic.LoadUint64(d.head) != atomic.LoadUint64(d.tail)
}

// CloseWrite marks the writer done: once the reader has read every frame,
// it sees WriterClosed. Waiting readers are woken.
func (d *PipeDir) CloseWrite() {
	var err error
	defer d.p.seg.guard(&err, faultOn())
	atomic.StoreUint32(d.wclosed, 1)
	d.dataBell.RingAlways(1 << 30)
}

// CloseRead marks the reader gone: WriteFrame fails from now on. Waiting
// writers are woken.
func (d *PipeDir) CloseRead() {
	var err error
	defer d.p.seg.guard(&err, faultOn())
	atomic.StoreUint32(d.rclosed, 1)
	d.spcBell.RingAlways(1 << 30)
}

// WriterClosed reports whether the writer has closed. A reader that sees
// it and then finds nothing Readable has read everything.
func (d *PipeDir) WriterClosed() (closed bool) {
	var err error
	defer faulted(&closed, &err, false)
	defer d.p.seg.guard(&err, faultOn())
	return atomic.LoadUint32(d.wclosed) != 0
}

// ReaderClosed reports whether the reader has closed.
func (d *PipeDir) ReaderClosed() (closed bool) {
	var err error
	defer faulted(&closed, &err, false)
	defer d.p.seg.guard(&err, faultOn())
	return atomic.LoadUint32(d.rclosed) != 0
}

// faulted is deferred, before the fault guard, by the reports that
// return no error: a fault inside the pipe's mapping (its file truncated)
// makes the report v, chosen so that the caller goes on to ReadFrame or
// WriteFrame, which fail with ErrFault, rather than wait for ever.
func faulted(report *bool, err *error, v bool) {
	if *err != nil {
		*report = v
	}
}

// DataBell is rung when a frame is written or the writer closes.
func (d *PipeDir) DataBell() Doorbell { return d.dataBell }

// SpaceBell is rung when a frame is released and at most half the ring
// is in use, and when the reader closes. A writer that parks on it should
// wait for half the ring (Writable(MaxFrame())), not just for its frame.
func (d *PipeDir) SpaceBell() Doorbell { return d.spcBell }

func align8(n uint64) uint64 { return (n + 7) &^ 7 }
