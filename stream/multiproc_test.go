package stream

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/testproc"
)

const (
	envRoot = "STREAM_ROOT"
	envNS   = "STREAM_NS"
	envMode = "STREAM_MODE"
)

func init() { helpers["server"] = helperServer }

func env(root, ns, mode string) []string {
	return []string{envRoot + "=" + root, envNS + "=" + ns, envMode + "=" + mode}
}

// helperServer listens on "svc" and serves each stream as STREAM_MODE
// says: "echo" copies it back and half-closes, "http" serves HTTP, "hold"
// takes one stream and reads it only when stdin says "read", then prints
// "got <bytes> <sha256>".
func helperServer() error {
	s, err := actor.Join(os.Getenv(envNS), actor.WithRoot(os.Getenv(envRoot)),
		actor.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := Listen(s, "svc")
	if err != nil {
		return err
	}
	defer ln.Close()
	switch mode := os.Getenv(envMode); mode {
	case "echo":
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					io.Copy(c, c)
					c.(interface{ CloseWrite() error }).CloseWrite()
				}()
			}
		}()
	case "http":
		mux := http.NewServeMux()
		mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from %d over %s", os.Getpid(), r.RemoteAddr)
		})
		mux.HandleFunc("/sum", func(w http.ResponseWriter, r *http.Request) {
			h := sha256.New()
			n, _ := io.Copy(h, r.Body)
			fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
		})
		go http.Serve(ln, mux)
	case "hold":
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Println("accepted")
			in := bufio.NewScanner(os.Stdin)
			for in.Scan() && in.Text() != "read" {
			}
			h := sha256.New()
			n, err := io.Copy(h, c)
			fmt.Printf("got %d %x %v\n", n, h.Sum(nil), err)
			c.Close()
		}()
	default:
		return fmt.Errorf("mode %q", mode)
	}
	fmt.Println("ready")
	// Until killed, or stdin closes (hold mode reads stdin itself).
	if os.Getenv(envMode) != "hold" {
		io.Copy(io.Discard, os.Stdin)
	} else {
		select {}
	}
	return nil
}

// startServer starts a server process in mode and joins its namespace.
func startServer(t *testing.T, mode string) (*testproc.Proc, *actor.System) {
	t.Helper()
	root := testproc.TempDir(t)
	ns := "st-" + mode
	p := testproc.Start(t, "server", env(root, ns, mode)...)
	p.Expect(t, "ready", time.Minute)
	return p, joinT(t, root, ns)
}

func dialT(t *testing.T, s *actor.System, name string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, s, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed)})
	b := make([]byte, n)
	r.Read(b)
	return b
}

// 8 MiB through an echo server in another process and back, written in
// odd sizes while it is read: every byte comes back in order, then
// io.EOF, after the client's CloseWrite and the server's.
func TestEchoAcrossProcesses(t *testing.T) {
	_, s := startServer(t, "echo")
	c := dialT(t, s, "svc")
	data := randomBytes(8<<20, 1)
	werr := make(chan error, 1)
	go func() {
		for b := data; len(b) > 0; {
			n := min(len(b), 1+len(b)%70000)
			if _, err := c.Write(b[:n]); err != nil {
				werr <- err
				return
			}
			b = b[n:]
		}
		werr <- c.(interface{ CloseWrite() error }).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes back, sent %d; equal: false", len(got), len(data))
	}
}

// kill -9 of the server mid-stream: the client's Read returns an error
// wrapping ErrPeerGone within about a second, and so does Write.
func TestServerKilledMidStream(t *testing.T) {
	p, s := startServer(t, "echo")
	c := dialT(t, s, "svc")
	werr := make(chan error, 1)
	go func() {
		b := randomBytes(64<<10, 2)
		for {
			if _, err := c.Write(b); err != nil {
				werr <- err
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	var n int64
	for n < 4<<20 {
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read before the kill: %v", err)
		}
		n += int64(k)
	}
	p.Kill()
	killed := time.Now()
	var err error
	for err == nil {
		_, err = c.Read(buf)
	}
	took := time.Since(killed)
	t.Logf("Read failed %v after the kill: %v", took, err)
	if !errors.Is(err, ErrPeerGone) {
		t.Fatalf("Read: %v, want ErrPeerGone", err)
	}
	if took > 3*time.Second {
		t.Fatalf("Read failed %v after the kill, want about a second", took)
	}
	select {
	case err := <-werr:
		if !errors.Is(err, ErrPeerGone) {
			t.Logf("Write failed with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Write still blocked 5s after the kill")
	}
}

// A reader that does not read holds its writer to the window: the
// writer blocks after about one window (512 KiB), and once the reader reads, every
// byte arrives.
func TestSlowReaderBoundsWriter(t *testing.T) {
	p, s := startServer(t, "hold")
	c := dialT(t, s, "svc")
	p.Expect(t, "accepted", 10*time.Second)
	data := randomBytes(4<<20, 3)
	written := make(chan int, 1024)
	done := make(chan error, 1)
	go func() {
		for b := data; len(b) > 0; {
			n := min(len(b), 16<<10)
			if _, err := c.Write(b[:n]); err != nil {
				done <- err
				return
			}
			written <- n
			b = b[n:]
		}
		done <- c.Close()
	}()
	total := 0
	stall := time.After(time.Second)
wait:
	for {
		select {
		case n := <-written:
			total += n
		case err := <-done:
			t.Fatalf("the writer finished (%v) with nobody reading", err)
		case <-stall:
			break wait
		}
	}
	t.Logf("written with nobody reading: %d bytes", total)
	if total > window+chunk || total == 0 {
		t.Fatalf("written %d bytes with nobody reading, want some and at most %d", total, window+chunk)
	}
	if err := p.Send("read"); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range written {
		}
	}()
	got := p.Expect(t, "got ", 30*time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d %x <nil>", len(data), sha256.Sum256(data))
	if got != want {
		t.Fatalf("the reader got %q, want %q", got, want)
	}
}

// net/http over a stream listener in another process, fetched through
// an http.Transport that dials streams: small responses on kept-alive
// connections, and a 3 MiB upload.
func TestHTTPAcrossProcesses(t *testing.T) {
	_, s := startServer(t, "http")
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return Dial(ctx, s, strings.TrimSuffix(addr, ":80"))
		},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for i := range 20 {
		res, err := client.Get("http://svc/hello")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 || !strings.HasPrefix(string(b), "hello from ") {
			t.Fatalf("GET %d: %v %d %q", i, err, res.StatusCode, b)
		}
		if i == 0 {
			t.Logf("%s", b)
		}
	}
	body := randomBytes(3<<20, 4)
	res, err := client.Post("http://svc/sum", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if want := strconv.Itoa(len(body)) + " " + fmt.Sprintf("%x", sha256.Sum256(body)); string(b) != want {
		t.Fatalf("POST: %q, want %q", b, want)
	}
}
