package shm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func newTestPipe(t testing.TB, size int) (*Pipe, *Pipe) {
	t.Helper()
	d := openTestDir(t)
	a, err := CreatePipe(d, "pipe", size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := OpenPipe(d, "pipe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

func writeFrame(t testing.TB, d *PipeDir, b []byte) bool {
	t.Helper()
	ok, err := d.WriteFrame(len(b), func(f []byte) int { return copy(f, b) })
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func readFrame(t testing.TB, d *PipeDir) ([]byte, bool) {
	t.Helper()
	var got []byte
	ok, err := d.ReadFrame(func(f []byte) int { got = append(got, f...); return len(f) })
	if err != nil {
		t.Fatal(err)
	}
	return got, ok
}

func TestPipeFramesWrap(t *testing.T) {
	a, b := newTestPipe(t, 4096)
	for _, n := range []int{1, 7, 8, 9, 100, 1000, a.MaxFrame()} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			for lap := 0; lap < 50; lap++ { // many laps: every offset, pads
				rec := bytes.Repeat([]byte{byte(lap)}, n)
				if !writeFrame(t, a.Dir(0), rec) {
					t.Fatalf("lap %d: no room in an empty pipe", lap)
				}
				got, ok := readFrame(t, b.Dir(0))
				if !ok || !bytes.Equal(got, rec) {
					t.Fatalf("lap %d: read %v, %d bytes; want %d", lap, ok, len(got), n)
				}
			}
			if _, ok := readFrame(t, b.Dir(0)); ok {
				t.Fatal("read from an empty pipe")
			}
		})
	}
}

func TestPipeFullAndPartialReads(t *testing.T) {
	a, b := newTestPipe(t, 4096)
	w, r := a.Dir(1), b.Dir(1)
	n := 0
	for writeFrame(t, w, []byte{byte(n), 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		n++
	}
	if n != 4096/24 {
		t.Fatalf("%d 10-byte frames fit in 4096 bytes, want %d", n, 4096/24)
	}
	if w.Writable(10) {
		t.Fatal("full pipe reports room")
	}
	// Read the first frame three bytes at a time: it is released only
	// when all of it is read.
	for i := 0; i < 3; i++ {
		ok, err := r.ReadFrame(func(f []byte) int {
			if i == 0 && f[0] != 0 {
				t.Errorf("first frame starts with %d", f[0])
			}
			return min(3, len(f))
		})
		if !ok || err != nil {
			t.Fatal(ok, err)
		}
		if w.Writable(10) {
			t.Fatalf("room after %d partial reads", i+1)
		}
	}
	if ok, _ := r.ReadFrame(func(f []byte) int { return len(f) }); !ok || !w.Writable(10) {
		t.Fatal("no room after the first frame was read")
	}
	for i := 1; i < n; i++ {
		got, ok := readFrame(t, r)
		if !ok || got[0] != byte(i) {
			t.Fatalf("frame %d: %v %v", i, ok, got)
		}
	}
}

func TestPipeClose(t *testing.T) {
	a, b := newTestPipe(t, 4096)
	writeFrame(t, a.Dir(0), []byte("last"))
	a.Dir(0).CloseWrite()
	if !b.Dir(0).WriterClosed() || !b.Dir(0).Readable() {
		t.Fatal("closed writer's last frame not readable")
	}
	if got, _ := readFrame(t, b.Dir(0)); string(got) != "last" {
		t.Fatalf("read %q", got)
	}
	b.Dir(0).CloseRead()
	_, err := a.Dir(0).WriteFrame(1, func(f []byte) int { return 1 })
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("write after the reader closed: %v, want ErrClosed", err)
	}
	if _, err := a.Dir(1).WriteFrame(a.MaxFrame()+1, func(f []byte) int { return 0 }); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("oversized frame: %v, want ErrInvalidConfig", err)
	}
}

func TestPipeBadSize(t *testing.T) {
	d := openTestDir(t)
	for _, size := range []int{0, 1000, 4097, -4096} {
		if _, err := CreatePipe(d, "p", size); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("size %d: %v, want ErrInvalidConfig", size, err)
		}
	}
}

// TestPipeStress runs a writer and a reader on two mappings of one pipe,
// with random frame sizes and both sides parking on the doorbells.
func TestPipeStress(t *testing.T) {
	a, b := newTestPipe(t, 1<<14)
	const total = 20000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w := a.Dir(0)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < total; i++ {
			n := 9 + rng.IntN(3000)
			for {
				ok, err := w.WriteFrame(n, func(f []byte) int {
					binary.LittleEndian.PutUint64(f, uint64(i))
					f[n-1] = byte(i)
					return n
				})
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					break
				}
				w.SpaceBell().Wait(func() (bool, time.Duration) { return w.Writable(n), 10 * time.Millisecond })
			}
		}
	}()
	r := b.Dir(0)
	for i := 0; i < total; {
		ok, err := r.ReadFrame(func(f []byte) int {
			if got := binary.LittleEndian.Uint64(f); got != uint64(i) || f[len(f)-1] != byte(i) {
				t.Fatalf("frame %d: got %x, %d bytes, last %d, tail %d head %d", i, got, len(f), f[len(f)-1], *r.tail, *r.head)
			}
			return len(f)
		})
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			i++
			continue
		}
		r.DataBell().Wait(func() (bool, time.Duration) { return r.Readable(), 10 * time.Millisecond })
	}
	wg.Wait()
}

// FuzzPipeFrame feeds decodeFrame arbitrary buffers and positions: it
// must reject what does not check out, and what it accepts must lie
// inside the buffer.
func FuzzPipeFrame(f *testing.F) {
	seed := make([]byte, 64)
	binary.LittleEndian.PutUint32(seed, 10)
	f.Add(seed, uint64(24), uint64(0))
	binary.LittleEndian.PutUint32(seed[40:], 16)
	binary.LittleEndian.PutUint32(seed[44:], framePad)
	f.Add(seed, uint64(128), uint64(104))
	f.Add(seed, uint64(0), uint64(8))
	f.Add(seed, ^uint64(0), uint64(0))
	f.Fuzz(func(t *testing.T, data []byte, head, tail uint64) {
		if len(data) < 8 {
			return
		}
		size := uint64(1) << (bits.Len64(uint64(len(data))) - 1) // the largest power of two that fits
		data = data[:size]
		l, typ, err := decodeFrame(data, size, head, tail, "fuzz")
		if err != nil {
			return
		}
		off := tail & (size - 1)
		if off+frameHdr+l > size || (typ != frameData && typ != framePad) {
			t.Fatalf("accepted frame of %d bytes at %d in %d", l, off, size)
		}
	})
}
