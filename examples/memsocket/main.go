package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/stream"
)

// The server process is this program again, told so by the environment.
const (
	envServe = "MEMSOCKET_SERVE" // the namespace to serve in
	envRoot  = "MEMSOCKET_ROOT"  // its root directory, if not the default
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "memsocket:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if ns := os.Getenv(envServe); ns != "" {
		return server(ns, rootOpt(os.Getenv(envRoot)), out)
	}
	fs := flag.NewFlagSet("memsocket", flag.ContinueOnError)
	root := fs.String("root", "", "namespace root directory (default: the platform's shared-memory directory)")
	ns := fs.String("ns", "memsocket", "namespace")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return client(*ns, *root, out)
}

func rootOpt(root string) []actor.Option {
	if root == "" {
		return nil
	}
	return []actor.Option{actor.WithRoot(root)}
}

// server listens on "upper" (each line answered in capitals) and "web"
// (an HTTP server), prints "ready", and serves until stdin closes.
func server(ns string, opts []actor.Option, out io.Writer) error {
	sys, err := actor.Join(ns, opts...)
	if err != nil {
		return err
	}
	defer sys.Close()
	upper, err := stream.Listen(sys, "upper")
	if err != nil {
		return err
	}
	defer upper.Close()
	go func() {
		for {
			c, err := upper.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				lines := bufio.NewScanner(c)
				for lines.Scan() {
					fmt.Fprintln(c, strings.ToUpper(lines.Text()))
				}
			}()
		}
	}()
	web, err := stream.Listen(sys, "web")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello, %s, from process %d", r.RemoteAddr, os.Getpid())
	})
	go http.Serve(web, mux)
	defer web.Close()
	fmt.Fprintln(out, "ready")
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// client starts the server, talks to it through both listeners, and
// stops it.
func client(ns, root string, out io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	srv := exec.Command(exe)
	srv.Env = append(os.Environ(), envServe+"="+ns, envRoot+"="+root)
	srv.Stderr = os.Stderr
	stdin, err := srv.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := srv.StdoutPipe()
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		stdin.Close()
		srv.Wait()
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		return fmt.Errorf("the server did not start: %q %v", line, err)
	}

	sys, err := actor.Join(ns, rootOpt(root)...)
	if err != nil {
		return err
	}
	defer sys.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Lines to "upper" and back.
	c, err := stream.Dial(ctx, sys, "upper")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "dialed %s from %s\n", c.RemoteAddr(), c.LocalAddr())
	for _, l := range []string{"hello", "bytes in shared memory", "sealed end to end"} {
		fmt.Fprintln(c, l)
	}
	c.(interface{ CloseWrite() error }).CloseWrite() // no more lines: the server's Scan ends
	replies := bufio.NewScanner(c)
	for replies.Scan() {
		fmt.Fprintln(out, "upper:", replies.Text())
	}
	c.Close()

	// An HTTP GET to "web": the host part of the URL is the listener's name.
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return stream.Dial(ctx, sys, host)
		},
	}}
	resp, err := hc.Get("http://web/hello")
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	fmt.Fprintf(out, "web: %s %s\n", resp.Status, body)
	return nil
}
