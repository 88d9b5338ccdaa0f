package shm

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// ringImage returns the bytes of a small ring segment after pushing the
// given records (and popping the first pop of them).
func ringImage(t testing.TB, d *Dir, recs [][]byte, pop int) []byte {
	t.Helper()
	name := fmt.Sprintf("img-%d", imageSeq.Add(1))
	r, err := CreateRing(d, name, &RingConfig{Cells: 16, CellSize: 64, MaxOwners: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if err := r.TryPush(rec); err != nil {
			t.Fatal(err)
		}
	}
	for range pop {
		if _, err := r.TryPop(nil); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	b, err := os.ReadFile(filepath.Join(d.Path(), name))
	if err != nil {
		t.Fatal(err)
	}
	d.Remove(name)
	return b
}

var imageSeq atomic.Int64

// FuzzRingAttach attaches to arbitrary segment bytes and pushes and pops on
// them: whatever the bytes, the ring returns records or errors, and never
// panics, hangs or allocates more than the segment's own size.
func FuzzRingAttach(f *testing.F) {
	d := openTestDir(f)
	recs := [][]byte{[]byte("a"), make([]byte, 100), []byte("hello, world"), make([]byte, 200)}
	good := ringImage(f, d, recs, 1)
	f.Add(good)
	f.Add(ringImage(f, d, nil, 0))
	f.Add(ringImage(f, d, recs[:2], 2))
	g := ringGeometryFor(f, good)
	body := func(b []byte) []byte { return b[HeaderSize:] }
	mutate := func(edit func(b []byte)) {
		b := append([]byte(nil), good...)
		edit(b)
		f.Add(b)
	}
	word := func(b []byte, i int) []byte { return body(b)[g.dataOff+g.CellSize*i:] }
	// Corrupt cell words: each state at the head, huge lengths, bad owners.
	for st := uint64(0); st < 8; st++ {
		mutate(func(b []byte) {
			binary.LittleEndian.PutUint64(word(b, 1), mkWord(1, st, st == 5, 3, 2))
		})
	}
	mutate(func(b []byte) { binary.LittleEndian.PutUint64(word(b, 1), mkWord(1, stCommitted, false, 16384, 0)) })
	mutate(func(b []byte) { binary.LittleEndian.PutUint64(word(b, 1), mkWord(99, stCommitted, false, 1, 0)) })
	mutate(func(b []byte) { binary.LittleEndian.PutUint64(word(b, 1), mkWord(1, stClaimed, false, 2, 3)) })
	// A record length that lies.
	mutate(func(b []byte) { binary.LittleEndian.PutUint64(word(b, 1)[wordSize:], 1<<40) })
	mutate(func(b []byte) { binary.LittleEndian.PutUint64(word(b, 1)[wordSize:], 63) })
	// Geometry lies.
	mutate(func(b []byte) { binary.LittleEndian.PutUint64(body(b)[rhCells:], 1<<20) })
	mutate(func(b []byte) { binary.LittleEndian.PutUint64(body(b)[rhDataOff:], 8) })
	mutate(func(b []byte) { binary.LittleEndian.PutUint64(body(b)[rhMaxRecord:], 1<<62) })
	// Positions far apart, head ahead of tail, an owner table full of ghosts.
	mutate(func(b []byte) { binary.LittleEndian.PutUint64(body(b)[rhHead:], 1<<40) })
	mutate(func(b []byte) { binary.LittleEndian.PutUint64(body(b)[rhTail:], 7) })
	mutate(func(b []byte) {
		for i := 0; i < 4; i++ {
			binary.LittleEndian.PutUint64(body(b)[g.ownersOff+i*ownerSize:], uint64(i+1)*0x9e3779b9)
		}
	})
	f.Add(good[:HeaderSize+100])
	f.Add([]byte("SHMACTOR"))

	var n atomic.Int64
	f.Fuzz(func(t *testing.T, b []byte) {
		// No input may make an operation spin: fail loudly, with every
		// goroutine's stack, if one execution takes seconds.
		watchdog := time.AfterFunc(10*time.Second, func() {
			buf := make([]byte, 1<<20)
			panic("fuzz execution stuck:\n" + string(buf[:runtime.Stack(buf, true)]))
		})
		defer watchdog.Stop()
		name := fmt.Sprintf("fuzz-%d", n.Add(1))
		path := filepath.Join(d.Path(), name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(path)
		r, err := OpenRing(d, name)
		if err != nil {
			return
		}
		defer r.Close()
		var buf []byte
		for range 40 {
			if buf, err = r.TryPop(buf[:0]); err == nil && len(buf) > r.MaxRecord() {
				t.Fatalf("popped %d bytes from a ring with MaxRecord %d", len(buf), r.MaxRecord())
			}
		}
		for i := range 4 {
			r.TryPush(make([]byte, i*50))
		}
		r.Recover()
		r.Stats()
		for range 10 {
			r.TryPop(buf[:0])
		}
	})
}

func ringGeometryFor(t testing.TB, img []byte) ringGeometry {
	g, err := RingConfig{Cells: 16, CellSize: 64, MaxOwners: 4}.withDefaults().geometry()
	if err != nil {
		t.Fatal(err)
	}
	if len(img) < HeaderSize+g.bodySize {
		t.Fatalf("image of %d bytes", len(img))
	}
	return g
}

// The untouched seed image holds exactly the records pushed into it.
func TestRingImageRoundTrip(t *testing.T) {
	d := openTestDir(t)
	img := ringImage(t, d, [][]byte{[]byte("one"), []byte("two"), make([]byte, 200)}, 1)
	if err := os.WriteFile(filepath.Join(d.Path(), "copy"), img, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRing(d, "copy")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, want := range []string{"two", string(make([]byte, 200))} {
		got, err := r.TryPop(nil)
		if err != nil || string(got) != want {
			t.Fatalf("pop = %q, %v; want %q", got, err, want)
		}
	}
}
