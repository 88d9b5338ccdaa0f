package stream

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/seal"
	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/shm"
)

// A dialer that keeps its pipe's file open and truncates it once the
// listener has accepted: the listening end's Read, Write and Close fail
// or return, with shm.ErrFault, and the process does not die of SIGBUS.
func TestTruncatedPipeFailsStream(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "trunc"), joinT(t, root, "trunc")
	ln, err := Listen(a, "svc")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lpid, err := b.Lookup(prefix + "svc")
	if err != nil {
		t.Fatal(err)
	}
	// The hostile dialer: an actor of b's, a pipe of b's node, and the
	// pipe's file held open.
	me, err := b.SpawnNamed(actor.PropsFromFunc(func(actor.Context) {}), "hostile")
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%s00-%016x", pipePrefix, b.NodeID())
	p, err := shm.CreatePipe(b.Registry().Dir(), name, window)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f, err := os.OpenFile(filepath.Join(b.Registry().Dir().Path(), name), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	defer p.Unlink()
	key := make([]byte, seal.KeySize)
	rand.Read(key)
	if err := b.Send(lpid, &ctrl{Op: opOpen, Addr: me.Address, ID: me.Id, Pipe: name, Key: key, Suite: uint8(seal.LocalSuite())}); err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	var c net.Conn
	select {
	case c = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the listener did not accept in 10s")
	}
	if err := f.Truncate(shm.HeaderSize); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, shm.ErrFault) {
		t.Errorf("Read of a truncated pipe: %v, want shm.ErrFault", err)
	}
	if _, err := c.Write(make([]byte, 10)); !errors.Is(err, shm.ErrFault) {
		t.Errorf("Write to a truncated pipe: %v, want shm.ErrFault", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close of a stream on a truncated pipe still running after 5s")
	}
}
