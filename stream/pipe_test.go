package stream

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/shm"
)

func init() { helpers["dialer"] = helperDialer }

// helperDialer dials "svc" in STREAM_NS and waits (until killed) for an
// answer that never comes.
func helperDialer() error {
	s, err := actor.Join(os.Getenv(envNS), actor.WithRoot(os.Getenv(envRoot)),
		actor.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = Dial(context.Background(), s, "svc")
	return err
}

// pipeFiles returns the names of the stream pipes in s's namespace.
func pipeFiles(t *testing.T, s *actor.System) []string {
	t.Helper()
	files, err := s.Registry().Dir().List()
	if err != nil {
		t.Fatal(err)
	}
	var pipes []string
	for _, f := range files {
		if strings.HasPrefix(f, pipePrefix) {
			pipes = append(pipes, f)
		}
	}
	return pipes
}

// An established stream has no file: its pipe is unlinked once both ends
// have mapped it, so killing either process leaves nothing behind.
func TestEstablishedStreamLeavesNoFile(t *testing.T) {
	p, s := startServer(t, "echo")
	c := dialT(t, s, "svc")
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if f := pipeFiles(t, s); len(f) != 0 {
		t.Fatalf("pipe files of an established stream: %v", f)
	}
	p.Kill()
	p.Wait(10 * time.Second)
	if f := pipeFiles(t, s); len(f) != 0 {
		t.Fatalf("pipe files after kill -9 of the server: %v", f)
	}
}

// A dialer killed with kill -9 while its listener has not answered
// leaves a pipe file named for its node; the namespace's reaper removes
// it with the node's other files.
func TestDialerKilledBeforeAcceptIsReaped(t *testing.T) {
	root := testproc.TempDir(t)
	s := joinT(t, root, "st-reap")
	// A "listener" that never answers: an actor under the listener's name.
	if _, err := s.SpawnNamed(actor.PropsFromFunc(func(actor.Context) {}), prefix+"svc"); err != nil {
		t.Fatal(err)
	}
	p := testproc.Start(t, "dialer", env(root, "st-reap", "")...)
	var files []string
	for end := time.Now().Add(time.Minute); len(files) == 0 && time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		files = pipeFiles(t, s)
	}
	if len(files) != 1 {
		t.Fatalf("pipe files while dialing: %v, want one", files)
	}
	p.Kill()
	p.Wait(10 * time.Second)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		s.Registry().Reap()
		if len(pipeFiles(t, s)) == 0 {
			return
		}
	}
	t.Fatalf("pipe files 10s after kill -9 of the dialer: %v", pipeFiles(t, s))
}

// A frame that was not sealed with the stream's key (forged, or changed
// in the pipe) fails Read with ErrProtocol, and so does every Read after.
func TestForgedFrameFailsRead(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "forge"), joinT(t, root, "forge")
	c1, c2, _, err := pipe(a, b, "forge")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c1.Close(); c2.Close() })
	// Write a frame into c2's direction as a process that can write the
	// pipe but does not hold the key would.
	w := c2.(*conn)
	ok, err := w.out.WriteFrame(64, func(f []byte) int { return copy(f, make([]byte, 64)) })
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	for i := 0; i < 2; i++ {
		if _, err := c1.Read(make([]byte, 128)); !errors.Is(err, ErrProtocol) {
			t.Fatalf("read %d of a forged frame: %v, want ErrProtocol", i, err)
		}
	}
}

// A listener opens only a pipe of the dialer's own node, and a sealed
// System takes no plaintext stream.
func TestListenerChecksOfferedPipe(t *testing.T) {
	root := testproc.TempDir(t)
	s := joinT(t, root, "offer")
	l := &listener{sys: s}
	addr := s.NodeAddress(s.NodeID())
	other := s.NodeAddress(s.NodeID() + 1)
	mine := pipePrefix + "00-" + addr[strings.LastIndexByte(addr, '/')+1:]
	for _, tc := range []struct {
		name string
		m    ctrl
	}{
		{"another node's pipe", ctrl{Addr: other, Pipe: mine, Key: make([]byte, 32)}},
		{"not a pipe name", ctrl{Addr: addr, Pipe: "inbox-" + addr[strings.LastIndexByte(addr, '/')+1:], Key: make([]byte, 32)}},
		{"plaintext to a sealed System", ctrl{Addr: addr, Pipe: mine}},
		{"short key", ctrl{Addr: addr, Pipe: mine, Key: make([]byte, 5)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := l.openPipe(newConn(s, nil), &tc.m); !errors.Is(err, ErrProtocol) {
				t.Fatalf("openPipe: %v, want ErrProtocol", err)
			}
		})
	}
	// A well-formed offer of a pipe that is not there fails to open.
	m := ctrl{Addr: addr, Pipe: mine, Key: make([]byte, 32)}
	if err := l.openPipe(newConn(s, nil), &m); !errors.Is(err, shm.ErrNotFound) {
		t.Fatalf("openPipe of a missing pipe: %v, want shm.ErrNotFound", err)
	}
}
