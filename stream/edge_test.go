package stream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/testproc"
)

// pairT returns the two ends of a stream between two Systems of one
// namespace, closed at the end of the test.
func pairT(t *testing.T, ns string, opts ...actor.Option) (net.Conn, net.Conn) {
	t.Helper()
	root := testproc.TempDir(t)
	a, b := joinT(t, root, ns, opts...), joinT(t, root, ns, opts...)
	c1, c2, stop, err := pipe(a, b, "x")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return c1, c2
}

// Writes of sizes around the frame size, read with buffers of odd sizes
// down to one byte (so that sealed frames are read in pieces), sealed
// and plaintext: every byte arrives in order, then io.EOF.
func TestFrameBoundaries(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts []actor.Option
	}{{"sealed", nil}, {"plaintext", []actor.Option{actor.WithPlaintext()}}} {
		t.Run(mode.name, func(t *testing.T) {
			c1, c2 := pairT(t, "frames-"+mode.name, mode.opts...)
			if (c1.(*conn).aead == nil) != (mode.name == "plaintext") {
				t.Fatalf("%s System made a stream with aead %v", mode.name, c1.(*conn).aead)
			}
			sizes := []int{0, 1, chunk - 1, chunk, chunk + 1, 3*chunk + 7, 2 * window, 1}
			var want []byte
			for i, n := range sizes {
				want = append(want, randomBytes(n, uint64(i+10))...)
			}
			werr := make(chan error, 1)
			go func() {
				off := 0
				for _, n := range sizes {
					k, err := c1.Write(want[off : off+n])
					if err != nil || k != n {
						werr <- err
						return
					}
					off += n
				}
				werr <- c1.(interface{ CloseWrite() error }).CloseWrite()
			}()
			var got []byte
			bufs := []int{1, 7, chunk - 1, chunk + 100, 1, 3}
			for i := 0; ; i++ {
				buf := make([]byte, bufs[i%len(bufs)])
				n, err := c2.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					t.Fatal("Read of a non-empty buffer returned 0 bytes and no error")
				}
			}
			if err := <-werr; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d; equal: false", len(got), len(want))
			}
			if n, err := c2.Read(nil); n != 0 || err != io.EOF && err != nil {
				t.Fatalf("zero-length Read after io.EOF: %d, %v", n, err)
			}
		})
	}
}

// Concurrent Writes on one stream each arrive whole: one Write's bytes
// are not interleaved with another's, even over many frames.
func TestConcurrentWritesDoNotInterleave(t *testing.T) {
	c1, c2 := pairT(t, "cwrite")
	const writers, writes, size = 4, 8, 3*chunk + 5
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := bytes.Repeat([]byte{byte('a' + w)}, size)
			for range writes {
				if _, err := c1.Write(b); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		c1.(interface{ CloseWrite() error }).CloseWrite()
	}()
	got, err := io.ReadAll(c2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writers*writes*size {
		t.Fatalf("read %d bytes, want %d", len(got), writers*writes*size)
	}
	for i := 0; i < len(got); i += size {
		if rec := got[i : i+size]; bytes.Count(rec, rec[:1]) != size {
			t.Fatalf("the Write at %d is interleaved with another", i)
		}
	}
}

// Close while a Read and a Write are parked (the pipe empty one way and
// full the other), and while both are copying: each returns
// net.ErrClosed (or, copying, what it did), never an error from
// touching the pipe after it was unmapped, and Close returns.
func TestCloseRacesReadAndWrite(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "closerace"), joinT(t, root, "closerace")
	for i := range 30 {
		c1, c2, stop, err := pipe(a, b, "x")
		if err != nil {
			t.Fatal(err)
		}
		busy := i%2 == 1 // the peer reads and writes: Close lands mid-copy
		if busy {
			go io.Copy(io.Discard, c2)
			go func() {
				for {
					if _, err := c2.Write(make([]byte, 100000)); err != nil {
						return
					}
				}
			}()
		}
		errs := make(chan error, 2)
		go func() {
			buf := make([]byte, 1000)
			for {
				if _, err := c1.Read(buf); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			buf := make([]byte, 3*chunk)
			for {
				if _, err := c1.Write(buf); err != nil {
					errs <- err
					return
				}
			}
		}()
		if busy {
			time.Sleep(time.Duration(i%5) * time.Millisecond)
		} else {
			waitFor(t, 10*time.Second, "the writer fills the pipe", func() bool { return !c1.(*conn).out.Writable(chunk) })
		}
		if err := c1.Close(); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			select {
			case err := <-errs:
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("round %d: %v, want net.ErrClosed", i, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("round %d: a Read or Write still running 5s after Close", i)
			}
		}
		stop()
	}
}

// Both ends closing at once: both Closes return, and neither end is
// left remembered.
func TestCloseBothEndsAtOnce(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "closeboth"), joinT(t, root, "closeboth")
	for range 20 {
		c1, c2, _, err := pipe(a, b, "x")
		if err != nil {
			t.Fatal(err)
		}
		c1.Write([]byte("x"))
		c2.Write([]byte("y"))
		var wg sync.WaitGroup
		start := time.Now()
		for _, c := range []net.Conn{c1, c2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.Close(); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if took := time.Since(start); took > 500*time.Millisecond {
			t.Fatalf("closing both ends at once took %v", took)
		}
	}
	for _, s := range []*actor.System{a, b} {
		st, _ := stateOf(s)
		st.mu.Lock()
		n := len(st.conns)
		st.mu.Unlock()
		if n != 0 {
			t.Fatalf("%d streams remembered after both ends closed", n)
		}
	}
}

// A deadline changed while a Read or Write waits applies to it: brought
// forward, it ends it at the new time; pushed back or cleared, it lets
// it wait on and finish.
func TestDeadlineChangedWhileWaiting(t *testing.T) {
	c1, c2 := pairT(t, "dlchange")
	type result struct {
		n   int
		err error
		at  time.Time
	}
	read := func() chan result {
		ch := make(chan result, 1)
		go func() {
			n, err := c1.Read(make([]byte, 10))
			ch <- result{n, err, time.Now()}
		}()
		return ch
	}
	parked := func(c *conn) {
		waitFor(t, 10*time.Second, "the Read parks", func() bool { return c.in.DataBell().Sleepers() > 0 })
	}
	r1 := c1.(*conn)

	// Brought forward from far to near.
	c1.SetReadDeadline(time.Now().Add(time.Hour))
	ch := read()
	parked(r1)
	near := time.Now().Add(50 * time.Millisecond)
	c1.SetReadDeadline(near)
	res := <-ch
	if !errors.Is(res.err, os.ErrDeadlineExceeded) || res.at.Before(near) || res.at.Sub(near) > time.Second {
		t.Fatalf("deadline brought forward: %v at %v after it", res.err, res.at.Sub(near))
	}

	// Pushed back from near to far: the Read waits for data.
	c1.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	ch = read()
	parked(r1)
	c1.SetReadDeadline(time.Now().Add(time.Hour))
	select {
	case res := <-ch:
		t.Fatalf("deadline pushed back: Read returned %d, %v", res.n, res.err)
	case <-time.After(300 * time.Millisecond):
	}
	c2.Write([]byte("a"))
	if res := <-ch; res.n != 1 || res.err != nil {
		t.Fatalf("deadline pushed back: Read %d, %v", res.n, res.err)
	}

	// Cleared.
	c1.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	ch = read()
	parked(r1)
	c1.SetReadDeadline(time.Time{})
	select {
	case res := <-ch:
		t.Fatalf("deadline cleared: Read returned %d, %v", res.n, res.err)
	case <-time.After(300 * time.Millisecond):
	}
	c2.Write([]byte("b"))
	if res := <-ch; res.n != 1 || res.err != nil {
		t.Fatalf("deadline cleared: Read %d, %v", res.n, res.err)
	}

	// A Write waiting on a full pipe, its deadline set in the past.
	wch := make(chan result, 1)
	go func() {
		n, err := c2.Write(make([]byte, 2*window))
		wch <- result{n, err, time.Now()}
	}()
	waitFor(t, 10*time.Second, "the Write parks", func() bool { return c2.(*conn).out.SpaceBell().Sleepers() > 0 })
	c2.SetWriteDeadline(time.Now().Add(-time.Second))
	select {
	case res := <-wch:
		if !errors.Is(res.err, os.ErrDeadlineExceeded) || res.n == 0 || res.n >= 2*window {
			t.Fatalf("Write past its deadline: %d, %v", res.n, res.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a Write 5s past its deadline")
	}
}

// Streams opened and closed leave no goroutine behind.
func TestNoGoroutineLeak(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "leak"), joinT(t, root, "leak")
	warm := func() {
		c1, c2, stop, err := pipe(a, b, "x")
		if err != nil {
			t.Fatal(err)
		}
		c1.SetDeadline(time.Now().Add(time.Hour))
		go io.Copy(c2, c2)
		c1.Write([]byte("ping"))
		io.ReadFull(c1, make([]byte, 4))
		stop()
	}
	warm()
	time.Sleep(100 * time.Millisecond)
	base := runtime.NumGoroutine()
	for range 20 {
		warm()
	}
	var n int
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if n = runtime.NumGoroutine(); n <= base {
			return
		}
	}
	buf := make([]byte, 1<<20)
	t.Fatalf("%d goroutines after 20 streams, %d before\n%s", n, base, buf[:runtime.Stack(buf, true)])
}

// Closing a System with busy streams (Reads and Writes waiting) returns
// promptly and ends them.
func TestSystemCloseWithBusyStreams(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "busyclose"), joinT(t, root, "busyclose")
	const n = 6
	errs := make(chan error, 2*n)
	for range n {
		c1, c2, _, err := pipe(a, b, "x")
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		go func() {
			_, err := c1.Read(make([]byte, 10))
			errs <- err
		}()
		go func() {
			for {
				if _, err := c1.Write(make([]byte, chunk)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("closing a System with %d busy streams took %v", n, took)
	}
	for range 2 * n {
		select {
		case err := <-errs:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("%v, want net.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a Read or Write still running 5s after its System closed")
		}
	}
}

// A Dial whose Context ends before the listener answers fails with the
// Context's error and leaves no pipe file, actor or goroutine behind.
func TestDialContextEndsLeavesNothing(t *testing.T) {
	root := testproc.TempDir(t)
	s, d := joinT(t, root, "dialctx"), joinT(t, root, "dialctx")
	if _, err := s.SpawnNamed(actor.PropsFromFunc(func(actor.Context) {}), prefix+"svc"); err != nil {
		t.Fatal(err)
	}
	dial := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := Dial(ctx, d, "svc"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial: %v, want context.DeadlineExceeded", err)
		}
	}
	dial()
	time.Sleep(50 * time.Millisecond)
	base := runtime.NumGoroutine()
	for range 10 {
		dial()
	}
	if f := pipeFiles(t, s); len(f) != 0 {
		t.Fatalf("pipe files after Dials that timed out: %v", f)
	}
	st, _ := stateOf(d)
	st.mu.Lock()
	n := len(st.conns)
	st.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d streams remembered after Dials that timed out", n)
	}
	waitFor(t, 5*time.Second, "the goroutines are back to where they were", func() bool { return runtime.NumGoroutine() <= base })
}
