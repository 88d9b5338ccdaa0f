//go:build unix

package actor

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
)

// Messages carrying descriptors.
type (
	ConnHandoff struct{ Conn *os.File }
	PipeHandoff struct{ W *os.File }
)

func init() {
	for _, err := range []error{RegisterMessage[*ConnHandoff](), RegisterMessage[*PipeHandoff]()} {
		if err != nil {
			panic(err)
		}
	}
	helpers["fd-worker"] = helperFDWorker
}

// helperFDWorker serves "worker": it answers a TCP connection handed to
// it (one line in, one line out) and writes to a pipe handed to it.
func helperFDWorker() error {
	s, err := helperJoin()
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.SpawnNamed(PropsFromFunc(func(ctx Context) {
		switch m := ctx.Message().(type) {
		case *ConnHandoff:
			c, err := net.FileConn(m.Conn)
			m.Conn.Close()
			if err != nil {
				ctx.Respond(&Pong{From: "FileConn: " + err.Error()})
				return
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			fmt.Fprintf(c, "worker %d got %s", os.Getpid(), line)
			c.Close()
			ctx.Respond(&Pong{N: os.Getpid()})
		case *PipeHandoff:
			fmt.Fprintf(m.W, "written by %d", os.Getpid())
			m.W.Close()
			ctx.Respond(&Pong{N: os.Getpid()})
		}
	}), "worker"); err != nil {
		return err
	}
	fmt.Println("ready")
	commands(func(string, []string) {})
	return nil
}

// A TCP connection accepted here is handed to a worker process, which
// answers the client on it; a pipe's write end handed over is written
// through from there.
func TestFilesAcrossProcesses(t *testing.T) {
	root := testproc.TempDir(t)
	p := testproc.Start(t, "fd-worker", envRoot+"="+root, envNS+"=fds")
	p.Expect(t, "ready", time.Minute)
	s := joinT(t, root, "fds")
	worker := mustLookup(t, s, "worker")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	reply := make(chan string, 1)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			reply <- err.Error()
			return
		}
		defer c.Close()
		fmt.Fprintln(c, "hello")
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			line = err.Error()
		}
		reply <- line
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.(*net.TCPConn).File()
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Request(worker, &ConnHandoff{Conn: f}, 10*time.Second)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pong := got.(*Pong)
	if pong.N == 0 || pong.N == os.Getpid() {
		t.Fatalf("worker answered %+v", pong)
	}
	select {
	case line := <-reply:
		if want := fmt.Sprintf("worker %d got hello\n", pong.N); line != want {
			t.Fatalf("the client read %q, want %q", line, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client got no answer")
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := s.Request(worker, &PipeHandoff{W: w}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	w.Close()
	b, err := io.ReadAll(r)
	if err != nil || !strings.HasPrefix(string(b), "written by ") || string(b) == fmt.Sprintf("written by %d", os.Getpid()) {
		t.Fatalf("read %q, %v", b, err)
	}
}
