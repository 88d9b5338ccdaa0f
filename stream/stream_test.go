package stream

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/registry"
)

// Half-close: after the client's CloseWrite the server reads io.EOF
// after the data, and can still answer, which the client reads before
// its own io.EOF.
func TestHalfClose(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "half"), joinT(t, root, "half")
	c1, c2, stop, err := pipe(a, b, "half")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, err := c1.Write([]byte("question")); err != nil {
		t.Fatal(err)
	}
	if err := c1.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Write([]byte("more")); !errors.Is(err, ErrWriteClosed) {
		t.Fatalf("Write after CloseWrite: %v, want ErrWriteClosed", err)
	}
	q, err := io.ReadAll(c2)
	if err != nil || string(q) != "question" {
		t.Fatalf("server read %q, %v", q, err)
	}
	if _, err := c2.Write([]byte("answer")); err != nil {
		t.Fatal(err)
	}
	c2.Close()
	ans, err := io.ReadAll(c1)
	if err != nil || string(ans) != "answer" {
		t.Fatalf("client read %q, %v", ans, err)
	}
}

// Close: the peer's Read returns io.EOF after the data, its Write fails
// with ErrPeerClosed; the closed end's calls fail with net.ErrClosed;
// both ends' actors are gone after Close.
func TestCloseTellsPeerAndLeavesNothing(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "close"), joinT(t, root, "close")
	c1, c2, _, err := pipe(a, b, "close")
	if err != nil {
		t.Fatal(err)
	}
	c1.Write([]byte("bye"))
	if err := c1.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(c2); err != nil || string(got) != "bye" {
		t.Fatalf("peer read %q, %v", got, err)
	}
	if _, err := c2.Write([]byte("x")); !errors.Is(err, ErrPeerClosed) {
		t.Fatalf("peer Write: %v, want ErrPeerClosed", err)
	}
	if _, err := c1.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close: %v, want net.ErrClosed", err)
	}
	if err := c1.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v, want net.ErrClosed", err)
	}
	c2.Close()
	for _, x := range []struct {
		s *actor.System
		c net.Conn
	}{{b, c1}, {a, c2}} {
		if _, ok := x.s.ProcessRegistry.GetLocal(x.c.(*conn).self.Id); ok {
			t.Errorf("the actor of %v is still there after Close", x.c.LocalAddr())
		}
	}
	st, _ := stateOf(a)
	st.mu.Lock()
	n := len(st.conns) + len(st.lns)
	st.mu.Unlock()
	if n != 0 {
		t.Errorf("%d streams and listeners remembered after Close", n)
	}
}

// Names: a listener and an actor may share a name; a name with '/' is
// refused; a name is held by one listener at a time and released by
// Close; dialing a name nobody listens on is refused.
func TestNames(t *testing.T) {
	s := joinT(t, testproc.TempDir(t), "names")
	if _, err := s.SpawnNamed(actor.PropsFromFunc(func(actor.Context) {}), "svc"); err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(s, "svc")
	if err != nil {
		t.Fatalf("Listen beside an actor of the same name: %v", err)
	}
	if _, err := Listen(s, "svc"); !errors.Is(err, registry.ErrNameTaken) {
		t.Fatalf("second Listen: %v, want registry.ErrNameTaken", err)
	}
	for _, bad := range []string{"a/b", "", "sp ace"} {
		if _, err := Listen(s, bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Listen(%q): %v, want ErrInvalidName", bad, err)
		}
	}
	if a := ln.Addr(); a.Network() != "shm" || !strings.HasSuffix(a.String(), "/svc") || !strings.HasPrefix(a.String(), "names/") {
		t.Errorf("Addr: %s %s", a.Network(), a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Dial(ctx, s, "nobody"); !errors.Is(err, ErrRefused) {
		t.Fatalf("Dial nobody: %v, want ErrRefused", err)
	}
	ln.Close()
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
	ln2, err := Listen(s, "svc")
	if err != nil {
		t.Fatalf("Listen right after Close: %v", err)
	}
	ln2.Close()
	if _, err := Listen(nil, "x"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Listen(nil): %v", err)
	}
}

// A deadline in the past fails waiting and later calls with an error
// that is os.ErrDeadlineExceeded and a timeout; clearing it lets them
// work again.
func TestDeadlines(t *testing.T) {
	s := joinT(t, testproc.TempDir(t), "dl")
	c1, c2, stop, err := pipe(s, s, "dl")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	errc := make(chan error, 1)
	go func() {
		_, err := c1.Read(make([]byte, 1))
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c1.SetReadDeadline(time.Now().Add(-time.Second))
	err = <-errc
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read past its deadline: %v", err)
	}
	c1.SetReadDeadline(time.Time{})
	c2.Write([]byte("x"))
	if n, err := c1.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("Read after clearing the deadline: %d, %v", n, err)
	}
	// A writer blocked on a full window times out too.
	c2.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, err = c2.Write(make([]byte, 2*window))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write into a full window past its deadline: %v", err)
	}
}

// Closing the System closes its streams and listeners: the other end
// reads io.EOF.
func TestSystemCloseClosesStreams(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "sysclose"), joinT(t, root, "sysclose")
	c1, c2, _, err := pipe(a, b, "x")
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	b.Close() // c1's System
	if _, err := c2.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("Read after the peer's System closed: %v, want io.EOF", err)
	}
	if _, err := c1.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write on a stream of a closed System: %v", err)
	}
	if _, err := Listen(b, "y"); !errors.Is(err, actor.ErrClosed) {
		t.Fatalf("Listen on a closed System: %v", err)
	}
}

// A listener that closes right after accepting: the dialer's Dial
// succeeds, though the listener's Terminated can overtake its accept.
func TestListenerClosesAfterAccept(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "acc"), joinT(t, root, "acc")
	for i := range 20 {
		ln, err := Listen(a, "once")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if c, err := ln.Accept(); err == nil {
				defer c.Close()
			}
			ln.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := Dial(ctx, b, "once")
		cancel()
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		c.Close()
		<-done
	}
}

// Closing a System with a listener still open closes the listener and
// returns promptly: the System releases the listener's name itself, so
// the listener does not wait for the release it waits for on its own
// Close (it did, two seconds).
func TestSystemCloseWithOpenListener(t *testing.T) {
	root := testproc.TempDir(t)
	a := joinT(t, root, "lnclose")
	ln, err := Listen(a, "web")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		accepted <- err
	}()
	start := time.Now()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Close took %v with a listener open", took)
	}
	if err := <-accepted; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after the System closed: %v, want net.ErrClosed", err)
	}
}

// Closing the System while a Dial waits for a listener that has not
// answered ends the Dial with actor.ErrClosed: the System closes the
// dialing stream, and nothing would answer it after.
func TestSystemCloseEndsDial(t *testing.T) {
	root := testproc.TempDir(t)
	s, d := joinT(t, root, "dialclose"), joinT(t, root, "dialclose")
	// A "listener" that never answers.
	if _, err := s.SpawnNamed(actor.PropsFromFunc(func(actor.Context) {}), prefix+"svc"); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		c, err := Dial(context.Background(), d, "svc")
		if err == nil {
			c.Close()
		}
		errc <- err
	}()
	waitFor(t, 10*time.Second, "the dialer's pipe exists", func() bool { return len(pipeFiles(t, s)) == 1 })
	d.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, actor.ErrClosed) {
			t.Fatalf("Dial: %v, want actor.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Dial still waiting 10s after its System closed")
	}
	if f := pipeFiles(t, s); len(f) != 0 {
		t.Fatalf("pipe files after the dialing System closed: %v", f)
	}
}

// Closing the System while many Dials are under way, at every step of
// dialing: each Dial returns, and no dialer's pipe is left behind.
func TestSystemCloseDuringDials(t *testing.T) {
	root := testproc.TempDir(t)
	s := joinT(t, root, "dialsclose")
	if _, err := s.SpawnNamed(actor.PropsFromFunc(func(actor.Context) {}), prefix+"svc"); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		d := joinT(t, root, "dialsclose")
		const dialers = 8
		errc := make(chan error, dialers)
		for range dialers {
			go func() {
				for {
					c, err := Dial(context.Background(), d, "svc")
					if err != nil {
						errc <- err
						return
					}
					c.Close()
				}
			}()
		}
		time.Sleep(time.Duration(round) * time.Millisecond)
		d.Close()
		for range dialers {
			select {
			case err := <-errc:
				if !errors.Is(err, actor.ErrClosed) {
					t.Errorf("Dial: %v, want actor.ErrClosed", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("a Dial still waiting 10s after its System closed")
			}
		}
		if f := pipeFiles(t, s); len(f) != 0 {
			t.Fatalf("round %d: pipe files after the dialing System closed: %v", round, f)
		}
	}
}
