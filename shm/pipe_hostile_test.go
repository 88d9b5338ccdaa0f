package shm

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A writer that shrinks the length of a frame the reader has partly read
// makes ReadFrame fail with ErrCorrupt: the reader's offset into the
// frame is its own, and the frame's length is not to be trusted twice.
func TestPipeReadFrameShrunkAfterPartialRead(t *testing.T) {
	a, b := newTestPipe(t, 4096)
	if !writeFrame(t, a.Dir(0), make([]byte, 100)) {
		t.Fatal("no room in an empty pipe")
	}
	r := b.Dir(0)
	if ok, err := r.ReadFrame(func(f []byte) int { return 50 }); !ok || err != nil {
		t.Fatal(ok, err)
	}
	binary.LittleEndian.PutUint32(a.Dir(0).data[0:], 10) // the frame now claims 10 bytes
	ok, err := r.ReadFrame(func(f []byte) int { return len(f) })
	if ok || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadFrame of a frame shrunk under a partial read: %v, %v; want ErrCorrupt", ok, err)
	}
}

// Positions are shared memory that the peer can write: a head or tail
// that is not 8-byte aligned, or a tail ahead of the head, must not make
// WriteFrame, Writable or ReadFrame panic.
func TestPipeScribbledPositions(t *testing.T) {
	for _, tc := range []struct {
		name       string
		head, tail uint64
	}{
		{"unaligned head near the end", 4096 - 3, 4096 - 3},
		{"unaligned head", 5, 0},
		{"unaligned tail", 64, 3},
		{"tail ahead of head", 0, 64},
		{"head far ahead", 1 << 40, 0},
		{"head at the end minus 4", 4096 - 4, 4096 - 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newTestPipe(t, 4096)
			w, r := a.Dir(0), b.Dir(0)
			*w.head, *w.tail = tc.head, tc.tail
			for _, n := range []int{1, 9, 100, a.MaxFrame()} {
				w.Writable(n)
				_, err := w.WriteFrame(n, func(f []byte) int { return len(f) })
				if err != nil && !errors.Is(err, ErrCorrupt) {
					t.Errorf("WriteFrame(%d): %v, want nil or ErrCorrupt", n, err)
				}
			}
			r.Readable()
			_, err := r.ReadFrame(func(f []byte) int { return len(f) })
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Errorf("ReadFrame: %v, want nil or ErrCorrupt", err)
			}
		})
	}
}

// FuzzPipeSegment overlays arbitrary bytes on a pipe segment that has
// frames in both directions, opens it, and reads and writes both
// directions: whatever the bytes, the pipe returns frames or errors
// (ErrCorrupt for bad memory) and never panics or hangs.
func FuzzPipeSegment(f *testing.F) {
	d := openTestDir(f)
	const size = 4096
	f.Add([]byte{}, uint16(0))
	f.Add(make([]byte, 8), uint16(0))          // head 0 under frames: tail ahead
	f.Add([]byte{3}, uint16(0))                // unaligned head
	f.Add([]byte{0xf0, 0x0f}, uint16(0))       // head past the end
	f.Add([]byte{1, 0, 0, 0}, uint16(4096))    // shrunk first frame
	f.Add([]byte{1, 0, 0, 0, 1}, uint16(4096)) // first frame a pad
	f.Add([]byte{0, 0x20}, uint16(512))        // size field
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint16(4096+size))
	f.Fuzz(func(t *testing.T, patch []byte, at uint16) {
		p, err := CreatePipe(d, "fuzz", size)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		defer p.Unlink()
		for i := range 2 {
			for _, n := range []int{10, 100, 1000} {
				writeFrame(t, p.Dir(i), make([]byte, n))
			}
		}
		// Read part of the first frame of direction 0, so that its
		// reader is part way through it.
		q, err := OpenPipe(d, "fuzz")
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		if ok, err := q.Dir(0).ReadFrame(func(f []byte) int { return 3 }); !ok || err != nil {
			t.Fatal(ok, err)
		}
		body := p.seg.body
		if int(at) < len(body) {
			copy(body[at:], patch)
		}
		if r, err := OpenPipe(d, "fuzz"); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("OpenPipe: %v, want ErrCorrupt", err)
			}
		} else {
			r.Close()
		}
		for i := range 2 {
			pd := q.Dir(i)
			for range 20 {
				pd.Readable()
				pd.WriterClosed()
				ok, err := pd.ReadFrame(func(f []byte) int { return min(len(f), 7) })
				if err != nil && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("ReadFrame: %v", err)
				}
				if !ok || err != nil {
					break
				}
			}
			for _, n := range []int{1, 8, 9, 500, q.MaxFrame()} {
				pd.Writable(n)
				if _, err := pd.WriteFrame(n, func(f []byte) int { return len(f) }); err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrClosed) {
					t.Fatalf("WriteFrame(%d): %v", n, err)
				}
			}
		}
	})
}

// A pipe whose file is truncated under it (by a peer, or anyone who can
// write the namespace) makes every operation fail with ErrFault or
// report a state that leads the caller to one that does: none crashes
// the process with SIGBUS.
func TestPipeTruncated(t *testing.T) {
	a, b := newTestPipe(t, 1<<16)
	writeFrame(t, a.Dir(0), []byte("hello"))
	if err := os.Truncate(filepath.Join(a.seg.dir.Path(), a.Name()), HeaderSize); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		d := b.Dir(i)
		if !d.Readable() {
			t.Errorf("dir %d: not Readable: a reader would wait instead of getting ErrFault", i)
		}
		if d.WriterClosed() || d.ReaderClosed() {
			t.Errorf("dir %d: closed", i)
		}
		if !d.Writable(1) {
			t.Errorf("dir %d: not Writable: a writer would wait instead of getting ErrFault", i)
		}
		if _, err := d.ReadFrame(func(f []byte) int { return len(f) }); !errors.Is(err, ErrFault) {
			t.Errorf("dir %d: ReadFrame: %v, want ErrFault", i, err)
		}
		if _, err := d.WriteFrame(1, func(f []byte) int { return 1 }); !errors.Is(err, ErrFault) {
			t.Errorf("dir %d: WriteFrame: %v, want ErrFault", i, err)
		}
		d.CloseWrite()
		d.CloseRead()
		if err := b.Do(func() error {
			d.DataBell().Wait(func() (bool, time.Duration) { return false, time.Millisecond })
			d.SpaceBell().Ring(1)
			return nil
		}); !errors.Is(err, ErrFault) {
			t.Errorf("dir %d: doorbells under Do: %v, want ErrFault", i, err)
		}
	}
}
