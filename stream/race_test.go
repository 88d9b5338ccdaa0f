package stream

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
)

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%v passed waiting until %s", d, what)
		}
	}
}

// The peer writes its last bytes and closes in the moment between a
// Read finding the pipe empty and the Read looking at whether the peer
// is gone: the Read returns the bytes, then io.EOF, and loses nothing.
func TestReadPeerClosesWhileReadFindsNothing(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "eofrace"), joinT(t, root, "eofrace")
	c1, c2, stop, err := pipe(a, b, "x")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	r := c1.(*conn)
	var once sync.Once
	testHookReadEmpty = func(c *conn) {
		if c != r {
			return
		}
		once.Do(func() {
			if _, err := c2.Write([]byte("last")); err != nil {
				t.Error(err)
			}
			c2.Close()
			waitFor(t, 10*time.Second, "the reader learns that its peer stopped", func() bool { return r.peerDown.Load() != 0 })
		})
	}
	defer func() { testHookReadEmpty = nil }()
	got, err := io.ReadAll(c1)
	if err != nil || string(got) != "last" {
		t.Fatalf("read %q, %v; want \"last\", io.EOF", got, err)
	}
}

// As above, the peer dying rather than closing: the Read returns the
// bytes that arrived before it fails with ErrPeerGone.
func TestReadPeerDiesWhileReadFindsNothing(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "gonerace"), joinT(t, root, "gonerace")
	c1, c2, stop, err := pipe(a, b, "x")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	r := c1.(*conn)
	var once sync.Once
	testHookReadEmpty = func(c *conn) {
		if c != r {
			return
		}
		once.Do(func() {
			if _, err := c2.Write([]byte("last")); err != nil {
				t.Error(err)
			}
			// As the actor does when the watched peer dies.
			r.peerDown.CompareAndSwap(0, peerDied)
		})
	}
	defer func() { testHookReadEmpty = nil }()
	buf := make([]byte, 16)
	n, err := c1.Read(buf)
	if err != nil || string(buf[:n]) != "last" {
		t.Fatalf("read %q, %v; want \"last\"", buf[:n], err)
	}
	if _, err = c1.Read(buf); !errors.Is(err, ErrPeerGone) {
		t.Fatalf("second Read: %v, want ErrPeerGone", err)
	}
	var ne *net.OpError
	if !errors.As(err, &ne) {
		t.Fatalf("%T is no *net.OpError", err)
	}
}
