//go:build unix

package actor

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
)

func init() { helpers["machine-probe"] = helperMachineProbe }

// helperMachineProbe is a machine's node that does what it is told and
// prints the outcome:
//
//	responder                  spawns "responder" (Ping → Pong from "responder"), prints "responder <pid>"
//	request <pid> <ms> [note]  prints "request ok <from>" or "request error <err>"
//	header <pid>               a request with header k=v, prints "header <from>"
//	unreachable <pid>          watches and requests pid, prints "unreachable <ErrDeadLetter?>|<pid> <why>"
//	sendbad <pid>              prints "sendbad <unregistered err>|<blob err>|<file err>"
//	close                      closes the System, prints "closed <grpc goroutines left>"
func helperMachineProbe() error {
	s, err := Join(os.Getenv(envNS), machineOptions(os.Getenv(envRoot), os.Getenv(envIdentity), os.Getenv(envTrust))...)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Println("ready", s.NodeAddress(s.NodeID()))
	commands(func(cmd string, args []string) {
		switch cmd {
		case "responder":
			pid, err := s.SpawnNamed(echo("responder"), "responder")
			if err != nil {
				fmt.Println("responder error", err)
				return
			}
			fmt.Println("responder", pidText(pid))
		case "request":
			var ms int
			fmt.Sscan(args[1], &ms)
			note := ""
			if len(args) > 2 {
				note = args[2]
			}
			v, err := s.Request(parsePID(args[0]), &Ping{N: 1, Note: note}, time.Duration(ms)*time.Millisecond)
			switch {
			case errors.Is(err, ErrDeadLetter):
				fmt.Println("request deadletter", err)
			case errors.Is(err, ErrTimeout):
				fmt.Println("request timeout", err)
			case err != nil:
				fmt.Println("request error", err)
			default:
				fmt.Println("request ok", v.(*Pong).From)
			}
		case "header":
			v, err := s.request(parsePID(args[0]), &Ping{N: 1}, 10*time.Second, map[string]string{"k": "v"})
			if err != nil {
				fmt.Println("header error", err)
				return
			}
			fmt.Println("header", v.(*Pong).From)
		case "unreachable":
			// A watch and a request at once, both at an address that
			// cannot be reached.
			who := parsePID(args[0])
			why := make(chan string, 4)
			s.Root.Spawn(PropsFromFunc(func(ctx Context) {
				switch m := ctx.Message().(type) {
				case *Started:
					ctx.Watch(who)
				case *Terminated:
					why <- pidText(m.Who) + " " + m.Why.String()
				}
			}))
			_, err := s.Request(who, &Ping{}, time.Minute)
			select {
			case w := <-why:
				fmt.Printf("unreachable %v|%s\n", errors.Is(err, ErrDeadLetter), w)
			case <-time.After(time.Minute):
				fmt.Printf("unreachable %v|no Terminated\n", errors.Is(err, ErrDeadLetter))
			}
		case "sendbad":
			pid := parsePID(args[0])
			var out []string
			out = append(out, fmt.Sprint(s.Send(pid, &Unregistered{X: 1})))
			b, err := s.NewBlob(16)
			if err != nil {
				out = append(out, err.Error())
			} else {
				out = append(out, fmt.Sprint(s.Send(pid, b)))
			}
			f, err := os.Open(os.DevNull)
			if err != nil {
				out = append(out, err.Error())
			} else {
				out = append(out, fmt.Sprint(s.Send(pid, &PipeHandoff{W: f})))
				f.Close()
			}
			fmt.Println("sendbad", strings.Join(out, "|"))
		case "close":
			err := s.Close()
			deadline := time.Now().Add(10 * time.Second)
			n := grpcGoroutines()
			for n > 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				n = grpcGoroutines()
			}
			fmt.Println("closed", n, err)
		}
	})
	return nil
}

// grpcGoroutines counts the goroutines running gRPC's code.
func grpcGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "google.golang.org/grpc") {
			n++
		}
	}
	return n
}

// machineProbe starts a probe machine in a namespace of its own.
func machineProbe(t *testing.T, ns string, ids map[string]string, who, trust string) (*testproc.Proc, string) {
	t.Helper()
	p := testproc.Start(t, "machine-probe", envRoot+"="+testproc.TempDir(t), envNS+"="+ns, envIdentity+"="+ids[who], envTrust+"="+trust)
	return p, p.Expect(t, "ready", time.Minute)
}

// Three machines, each a process: headers cross with a request, an
// answer comes from a third machine, what cannot cross is refused at
// the send, a watch of an actor at an address nobody listens on ends,
// a request there fails, and Close leaves no gRPC goroutine behind.
func TestMachineEdges(t *testing.T) {
	ids, trust := identities(t, []string{"b", "c", "d"}, "b", "c", "d")
	b := testproc.Start(t, "machine-b", envRoot+"="+testproc.TempDir(t), envNS+"=shop", envIdentity+"="+ids["b"], envTrust+"="+trust)
	addrB := b.Expect(t, "ready", time.Minute)
	c, _ := machineProbe(t, "c", ids, "c", trust)
	d, _ := machineProbe(t, "d", ids, "d", trust)

	c.Send("header " + addrB + "/headers")
	if got := c.Expect(t, "header", time.Minute); got != "k=v" {
		t.Fatalf("a request's header across machines: %q", got)
	}
	d.Send("responder")
	resp := d.Expect(t, "responder", time.Minute)
	c.Send("request " + addrB + "/relay 20000 " + resp)
	if got := c.Expect(t, "request", time.Minute); got != "ok responder" {
		t.Fatalf("an answer from a third machine: %q", got)
	}
	c.Send("sendbad " + addrB + "/orders")
	got := strings.Split(c.Expect(t, "sendbad", time.Minute), "|")
	for i, want := range []string{"not registered", "Blob", "os.File"} {
		if i >= len(got) || !strings.Contains(got[i], want) {
			t.Fatalf("what cannot cross machines: %q, want %q", got, want)
		}
	}

	nowhere := "127.0.0.1:1/x"
	start := time.Now()
	c.Send("unreachable " + nowhere)
	// protoactor-go's remote says AddressTerminated when it gives the
	// address up, NotFound when the Watch it could not send is a dead
	// letter: either may come first.
	got = strings.Split(c.Expect(t, "unreachable", 2*time.Minute), "|")
	if got[0] != "true" || got[1] != nowhere+" "+TerminatedNodeGone.String() && got[1] != nowhere+" NotFound" {
		t.Fatalf("a request and a watch at an address nobody listens on: ErrDeadLetter %s, Terminated %s", got[0], got[1])
	}
	t.Logf("an address nobody listens on failed after %v", time.Since(start))

	// D has spoken with C both ways (it answered C's request): closed,
	// it keeps no connection. (C dialed an address nobody listens on:
	// protoactor-go's remote keeps each failed dial's connection.)
	d.Send("close")
	if got := d.Expect(t, "closed", time.Minute); got != "0 <nil>" {
		t.Fatalf("after Close: %q (gRPC goroutines left, Close's error)", got)
	}
}
