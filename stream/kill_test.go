package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/testproc"
)

func init() { helpers["writer"] = helperWriter }

// helperWriter dials "svc" in STREAM_NS, prints "dialed", and writes
// until killed, never reading.
func helperWriter() error {
	s, err := actor.Join(os.Getenv(envNS), actor.WithRoot(os.Getenv(envRoot)),
		actor.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Dial(ctx, s, "svc")
	if err != nil {
		return err
	}
	fmt.Println("dialed")
	b := randomBytes(48<<10, 5)
	for {
		if _, err := c.Write(b); err != nil {
			return err
		}
	}
}

// kill -9 of the dialing process mid-stream: the listening end's Read
// and its Write (blocked: the dialer never reads) fail with ErrPeerGone
// within about a second, and no pipe file is left.
func TestDialerKilledMidStream(t *testing.T) {
	root := testproc.TempDir(t)
	s := joinT(t, root, "st-dkill")
	ln, err := Listen(s, "svc")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := testproc.Start(t, "writer", env(root, "st-dkill", "")...)
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p.Expect(t, "dialed", time.Minute)
	werr := make(chan error, 1)
	go func() {
		b := make([]byte, 64<<10)
		for {
			if _, err := c.Write(b); err != nil {
				werr <- err
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for n := 0; n < 4<<20; {
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read before the kill: %v", err)
		}
		n += k
	}
	p.Kill()
	killed := time.Now()
	for err == nil {
		_, err = c.Read(buf)
	}
	took := time.Since(killed)
	t.Logf("Read failed %v after the kill: %v", took, err)
	var oe *net.OpError
	if !errors.Is(err, ErrPeerGone) || !errors.As(err, &oe) {
		t.Fatalf("Read: %v, want an *net.OpError wrapping ErrPeerGone", err)
	}
	if took > 3*time.Second {
		t.Fatalf("Read failed %v after the kill, want about a second", took)
	}
	select {
	case err := <-werr:
		if !errors.Is(err, ErrPeerGone) {
			t.Fatalf("Write: %v, want ErrPeerGone", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Write still blocked 3s after the kill")
	}
	p.Wait(10 * time.Second)
	if f := pipeFiles(t, s); len(f) != 0 {
		t.Fatalf("pipe files after kill -9 of the dialer: %v", f)
	}
}
