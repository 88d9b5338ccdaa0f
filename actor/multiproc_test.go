package actor

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
)

const (
	envRoot  = "ACT_ROOT"
	envNS    = "ACT_NS"
	envName  = "ACT_NAME"
	envPlain = "ACT_PLAIN"
	envProc  = "ACT_PROC"
	envProcs = "ACT_PROCS"
	envCount = "ACT_COUNT"
)

func init() {
	helpers["echo-node"] = helperEchoNode
	helpers["mesh-node"] = helperMeshNode
	helpers["victim"] = helperVictim
	helpers["stranger"] = helperStranger
}

func helperJoin() (*System, error) {
	opts := []Option{WithRoot(os.Getenv(envRoot)), WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil)))}
	if os.Getenv(envPlain) == "1" {
		opts = append(opts, WithPlaintext())
	}
	return Join(os.Getenv(envNS), opts...)
}

// commands runs fn for each line of stdin until it closes.
func commands(fn func(cmd string, args []string)) {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 {
			fn(f[0], f[1:])
		}
	}
}

// helperEchoNode serves an echo actor named ACT_NAME and, on "ask <name>
// <n>", requests another echo n times.
func helperEchoNode() error {
	s, err := helperJoin()
	if err != nil {
		return err
	}
	defer s.Close()
	name := os.Getenv(envName)
	if _, err := s.SpawnNamed(echo(name), name); err != nil {
		return err
	}
	fmt.Printf("ready %016x\n", s.NodeID())
	commands(func(cmd string, args []string) {
		if cmd != "ask" {
			return
		}
		n, _ := strconv.Atoi(args[1])
		pid, err := s.Lookup(args[0])
		if err != nil {
			fmt.Println("asked error", err)
			return
		}
		for i := range n {
			res, err := s.Root.RequestFuture(pid, &Ping{N: i}, 10*time.Second).Result()
			if p, ok := res.(*Pong); err != nil || !ok || p.N != i || p.From != args[0] {
				fmt.Println("asked error", i, res, err)
				return
			}
		}
		fmt.Println("asked", n, "ok")
	})
	return nil
}

// Mesh messages: from process P's actor A, the k-th to this target.
type Mesh struct {
	P, A, K int
}

func init() { RegisterMessage[*Mesh]() }

// meshCounter counts Mesh messages per sender and checks their order.
type meshCounter struct {
	mu    sync.Mutex
	last  map[[2]int]int
	count map[[2]int]int
	bad   []string
}

func (c *meshCounter) Receive(ctx Context) {
	m, ok := ctx.Message().(*Mesh)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := [2]int{m.P, m.A}
	if last, seen := c.last[k]; seen && m.K != last+1 || !seen && m.K != 0 {
		c.bad = append(c.bad, fmt.Sprintf("from %v: %d after %d", k, m.K, last))
	}
	c.last[k] = m.K
	c.count[k]++
}

// helperMeshNode runs 4 named counting actors; on "go", its 4 senders
// send ACT_COUNT messages to every actor of the other processes; on
// "report", it prints what its actors received.
func helperMeshNode() error {
	s, err := helperJoin()
	if err != nil {
		return err
	}
	defer s.Close()
	me, _ := strconv.Atoi(os.Getenv(envProc))
	procs, _ := strconv.Atoi(os.Getenv(envProcs))
	count, _ := strconv.Atoi(os.Getenv(envCount))
	counters := make([]*meshCounter, 4)
	for a := range 4 {
		c := &meshCounter{last: map[[2]int]int{}, count: map[[2]int]int{}}
		counters[a] = c
		if _, err := s.SpawnNamed(PropsFromProducer(func() Actor { return c }), fmt.Sprintf("mesh-%d-%d", me, a)); err != nil {
			return err
		}
	}
	fmt.Println("ready")
	commands(func(cmd string, _ []string) {
		switch cmd {
		case "go":
			var wg sync.WaitGroup
			var failed atomic.Value
			for a := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for p := range procs {
						if p == me {
							continue
						}
						for b := range 4 {
							pid, err := s.Lookup(fmt.Sprintf("mesh-%d-%d", p, b))
							if err != nil {
								failed.Store(err)
								return
							}
							for k := range count {
								if err := s.Send(pid, &Mesh{P: me, A: a, K: k}); err != nil {
									failed.Store(err)
									return
								}
							}
						}
					}
				}()
			}
			wg.Wait()
			if err, _ := failed.Load().(error); err != nil {
				fmt.Println("sent error", err)
				return
			}
			fmt.Println("sent")
		case "report":
			total, bad := 0, 0
			for _, c := range counters {
				c.mu.Lock()
				for k, n := range c.count {
					if n != count {
						fmt.Fprintf(os.Stderr, "actor got %d from %v, want %d\n", n, k, count)
						bad++
					}
					total += n
				}
				bad += len(c.bad)
				for _, b := range c.bad {
					fmt.Fprintln(os.Stderr, "order:", b)
				}
				c.mu.Unlock()
			}
			st := s.Stats()
			fmt.Fprintf(os.Stderr, "stats %+v\n", st)
			fmt.Println("report", total, bad)
		}
	})
	return nil
}

// Slow never answers.
type Slow struct{}

func init() { RegisterMessage[*Slow]() }

// helperVictim serves "victim-echo" and a "victim-slow" actor that never
// answers, then waits to be killed.
func helperVictim() error {
	s, err := helperJoin()
	if err != nil {
		return err
	}
	if _, err := s.SpawnNamed(echo("victim"), "victim-echo"); err != nil {
		return err
	}
	if _, err := s.SpawnNamed(PropsFromFunc(func(Context) {}), "victim-slow"); err != nil {
		return err
	}
	fmt.Printf("ready %016x\n", s.NodeID())
	select {}
}

// OnlyStranger is registered only in the stranger process.
type OnlyStranger struct{ Secret string }

// helperStranger registers a type the parent does not know and asks the
// parent's echo with it: the parent dead-letters it and answers
// DeadLetterResponse, so the request fails fast.
func helperStranger() error {
	if err := RegisterMessage[*OnlyStranger](); err != nil {
		return err
	}
	s, err := helperJoin()
	if err != nil {
		return err
	}
	defer s.Close()
	pid, err := s.Lookup(os.Getenv(envName))
	if err != nil {
		return err
	}
	start := time.Now()
	_, err = s.Root.RequestFuture(pid, &OnlyStranger{Secret: "x"}, 30*time.Second).Result()
	fmt.Println("result", errors.Is(err, ErrDeadLetter), time.Since(start) < 10*time.Second, err)
	return nil
}

// ---- tests ----

func env(root, ns string, extra ...string) []string {
	return append([]string{envRoot + "=" + root, envNS + "=" + ns}, extra...)
}

// Requests and replies between two processes, in both directions, sealed
// and plaintext.
func TestRequestReplyBetweenProcesses(t *testing.T) {
	n := 1000
	if testproc.Emulated() {
		n = 100
	}
	for _, plain := range []string{"0", "1"} {
		t.Run("plaintext="+plain, func(t *testing.T) {
			root := testproc.TempDir(t)
			a := testproc.Start(t, "echo-node", env(root, "rr", envName+"=echo-a", envPlain+"="+plain)...)
			a.Expect(t, "ready", time.Minute)
			b := testproc.Start(t, "echo-node", env(root, "rr", envName+"=echo-b", envPlain+"="+plain)...)
			b.Expect(t, "ready", time.Minute)
			a.Send(fmt.Sprint("ask echo-b ", n))
			b.Send(fmt.Sprint("ask echo-a ", n))
			for _, p := range []*testproc.Proc{a, b} {
				if got := p.Expect(t, "asked", 2*time.Minute); got != fmt.Sprint(n, " ok") {
					t.Fatalf("%s: %s", p.Name, got)
				}
			}
		})
	}
}

// 4 processes × 4 named actors, all to all: every message arrives once,
// in each sender's order.
func TestAllToAll(t *testing.T) {
	const procs = 4
	count := 625 // ×16 actor pairs = 10k messages per ordered pair of processes
	if testproc.Emulated() {
		count = 60
	}
	root := testproc.TempDir(t)
	var ps []*testproc.Proc
	for i := range procs {
		p := testproc.Start(t, "mesh-node", env(root, "mesh", fmt.Sprintf("%s=%d", envProc, i), fmt.Sprintf("%s=%d", envProcs, procs), fmt.Sprintf("%s=%d", envCount, count))...)
		p.Expect(t, "ready", time.Minute)
		ps = append(ps, p)
	}
	for _, p := range ps {
		p.Send("go")
	}
	for _, p := range ps {
		if got := p.Expect(t, "sent", 5*time.Minute); got != "" {
			t.Fatalf("%s: sent %s", p.Name, got)
		}
	}
	want := fmt.Sprint(4*(procs-1)*4*count, " 0") // each actor hears 4 actors of 3 processes
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		ok := true
		var got []string
		for _, p := range ps {
			p.Send("report")
			g := p.Expect(t, "report", time.Minute)
			got = append(got, g)
			if g != fmt.Sprint(4*(procs-1)*4*count, " 0") {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reports %q, want each %q", got, want)
		}
	}
}

// A killed node: its watchers get Terminated (node gone) within a second,
// a request waiting on it fails within a second, and its names can be
// taken by another process.
func TestKilledNode(t *testing.T) {
	root := testproc.TempDir(t)
	v := testproc.Start(t, "victim", env(root, "kill")...)
	v.Expect(t, "ready", time.Minute)
	s := joinT(t, root, "kill")
	target, err := s.Lookup("victim-echo")
	if err != nil {
		t.Fatal(err)
	}
	terminated := make(chan *Terminated, 1)
	watcher := s.Root.Spawn(PropsFromFunc(func(ctx Context) {
		switch m := ctx.Message().(type) {
		case *Started:
			ctx.Watch(target)
		case *Terminated:
			terminated <- m
		}
	}))
	defer s.Root.Stop(watcher)
	// The watch must be in place before the kill: a round trip proves the
	// victim is up, then give the Watch a moment to land.
	if _, err := s.Root.RequestFuture(target, &Ping{}, 10*time.Second).Result(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	slow, _ := s.Lookup("victim-slow")
	future := s.Root.RequestFuture(slow, &Slow{}, time.Minute)
	time.Sleep(20 * time.Millisecond)

	v.Kill()
	killed := time.Now()
	select {
	case m := <-terminated:
		took := time.Since(killed)
		t.Logf("Terminated after %v", took)
		if m.Why != TerminatedNodeGone || m.Who.Id != "victim-echo" {
			t.Fatalf("Terminated %+v", m)
		}
		if took > time.Second {
			t.Errorf("Terminated %v after the kill, want within 1s", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no Terminated after the kill")
	}
	_, err = future.Result()
	took := time.Since(killed)
	t.Logf("pending request failed after %v: %v", took, err)
	if !errors.Is(err, ErrDeadLetter) || took > time.Second {
		t.Fatalf("pending request: %v after %v, want ErrDeadLetter within 1s", err, took)
	}
	if _, err := s.SpawnNamed(echo("new"), "victim-echo"); err != nil {
		t.Fatalf("taking the dead node's name: %v", err)
	}
}
