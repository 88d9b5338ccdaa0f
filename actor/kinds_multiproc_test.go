package actor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/mailbox"
	"github.com/shmactor/shmactor/registry"
)

func init() { helpers["kind-node"] = helperKindNode }

// doubler answers Ping{N} with Pong{2N} and its process id.
func doubler() *Props {
	return PropsFromFunc(func(ctx Context) {
		if p, ok := ctx.Message().(*Ping); ok {
			ctx.Respond(&Pong{N: 2 * p.N, From: fmt.Sprint(os.Getpid())})
		}
	})
}

// helperKindNode offers the kinds "doubler", "counter" and "start-bomb",
// and waits; "supervised" prints how many actors supervised from
// elsewhere run here.
func helperKindNode() error {
	s, err := helperJoin()
	if err != nil {
		return err
	}
	defer s.Close()
	for kind, props := range map[string]*Props{"doubler": doubler(), "counter": counter(), "start-bomb": startBomb()} {
		if err := s.RegisterKind(kind, props); err != nil {
			return err
		}
	}
	fmt.Printf("ready %016x\n", s.NodeID())
	commands(func(cmd string, _ []string) {
		if cmd == "supervised" {
			s.kinds.mu.Lock()
			fmt.Println("supervised", len(s.kinds.supervised))
			s.kinds.mu.Unlock()
		}
	})
	return nil
}

// An actor of a kind another process offers is spawned there, by kind
// and by name; the errors say what is wrong.
func TestSpawnKindAcrossProcesses(t *testing.T) {
	root := testproc.TempDir(t)
	p := testproc.Start(t, "kind-node", envRoot+"="+root, envNS+"=kinds")
	child := p.Expect(t, "ready", time.Minute)
	s := joinT(t, root, "kinds")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	pid, err := s.SpawnKind(ctx, "doubler")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(pid.Address, child) {
		t.Fatalf("spawned at %s, want the node %s that offers the kind", pid.Address, child)
	}
	got, err := s.Request(pid, &Ping{N: 21}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if pong := got.(*Pong); pong.N != 42 || pong.From != fmt.Sprint(p.Pid()) {
		t.Fatalf("answered %+v, want 42 from pid %d", pong, p.Pid())
	}

	if _, err := s.SpawnKind(ctx, "doubler", Named("d1")); err != nil {
		t.Fatal(err)
	}
	named := mustLookup(t, s, "d1")
	if got, err := s.Request(named, &Ping{N: 1}, 5*time.Second); err != nil || got.(*Pong).N != 2 {
		t.Fatalf("the named actor answered %v, %v", got, err)
	}
	if _, err := s.SpawnKind(ctx, "doubler", Named("d1")); !errors.Is(err, registry.ErrNameTaken) {
		t.Fatalf("a second actor named d1: %v, want registry.ErrNameTaken", err)
	}
	if _, err := s.SpawnKind(ctx, "nope"); !errors.Is(err, ErrNoKind) {
		t.Fatalf("a kind nobody offers: %v, want ErrNoKind", err)
	}
	_, err = s.SpawnKind(ctx, "doubler", OnNode(s.NodeID()))
	if !errors.Is(err, ErrNoKind) {
		t.Fatalf("a kind the node asked for does not offer: %v, want ErrNoKind", err)
	}
	checkMessage(t, err)

	// This node offers it too: spawns spread over both, the least busy
	// first.
	if err := s.RegisterKind("doubler", doubler()); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterKind("doubler", doubler()); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("offering a kind twice: %v, want ErrInvalidArgument", err)
	}
	nodes := map[string]bool{}
	for i := 0; i < 6; i++ {
		pid, err := s.SpawnKind(ctx, "doubler")
		if err != nil {
			t.Fatal(err)
		}
		nodes[pid.Address] = true
	}
	if len(nodes) != 2 {
		t.Fatalf("six spawns went to %d nodes, want both", len(nodes))
	}
	if _, err := s.SpawnKind(nil, "doubler"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("nil Context: %v", err)
	}
}

// A pool of three doublers over two processes: kill -9 one process, and
// the pool is back to three members, all on the survivor, within about a
// second; requests through the pool keep being answered.
func TestPoolSurvivesKill(t *testing.T) {
	root := testproc.TempDir(t)
	a := testproc.Start(t, "kind-node", envRoot+"="+root, envNS+"=pool")
	nodeA := a.Expect(t, "ready", time.Minute)
	b := testproc.Start(t, "kind-node", envRoot+"="+root, envNS+"=pool")
	nodeB := b.Expect(t, "ready", time.Minute)
	s := joinT(t, root, "pool")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := s.SpawnPool(ctx, "doubler", 3)
	if err != nil {
		t.Fatal(err)
	}
	members, err := s.PoolMembers(pool, 5*time.Second)
	if err != nil || len(members) != 3 {
		t.Fatalf("members %v, %v", members, err)
	}
	on := map[string]int{}
	for _, m := range members {
		on[m.Address[strings.LastIndexByte(m.Address, '/')+1:]]++
	}
	if on[nodeA] == 0 || on[nodeB] == 0 {
		t.Fatalf("members %v spread as %v, want both nodes", members, on)
	}
	for i := 0; i < 6; i++ {
		got, err := s.Request(pool, &Ping{N: i}, 5*time.Second)
		if err != nil || got.(*Pong).N != 2*i {
			t.Fatalf("request %d through the pool: %v, %v", i, got, err)
		}
	}
	a.Kill()
	killed := time.Now()
	var took time.Duration
	for {
		members, err = s.PoolMembers(pool, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		back := len(members) == 3
		for _, m := range members {
			if !strings.HasSuffix(m.Address, nodeB) {
				back = false
			}
		}
		if back {
			took = time.Since(killed)
			break
		}
		if time.Since(killed) > 10*time.Second {
			t.Fatalf("10s after the kill the pool has %v", members)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("back to 3 members on the surviving process %v after kill -9", took)
	for i := 0; i < 6; i++ {
		got, err := s.Request(pool, &Ping{N: i}, 5*time.Second)
		if err != nil || got.(*Pong).N != 2*i || got.(*Pong).From != fmt.Sprint(b.Pid()) {
			t.Fatalf("request %d after the kill: %v, %v", i, got, err)
		}
	}
	if _, err := s.SpawnPool(ctx, "doubler", 0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a pool of 0: %v", err)
	}
}

// SpawnKind on a node killed with kill -9 and not yet reaped fails as
// documented: mailbox.ErrNodeGone (or ErrNoKind once the node is
// reaped), never a bare dead letter.
func TestSpawnKindOnKilledNode(t *testing.T) {
	root := testproc.TempDir(t)
	p := testproc.Start(t, "kind-node", envRoot+"="+root, envNS+"=kindkill")
	child := p.Expect(t, "ready", time.Minute)
	s := joinT(t, root, "kindkill")
	var node uint64
	if _, err := fmt.Sscanf(child, "%x", &node); err != nil {
		t.Fatal(err)
	}
	p.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.SpawnKind(ctx, "doubler", OnNode(node))
	if !errors.Is(err, mailbox.ErrNodeGone) && !errors.Is(err, ErrNoKind) {
		t.Fatalf("spawn on a killed node: %v, want mailbox.ErrNodeGone", err)
	}
	checkMessage(t, err)
}

// poolWarnings counts the log lines about pools.
type poolWarnings struct{ n atomic.Int32 }

func (w *poolWarnings) Write(b []byte) (int, error) {
	if strings.Contains(string(b), "pool") {
		w.n.Add(1)
	}
	return len(b), nil
}

// When every node offering the pool's kind is killed, requests to the
// pool wait for a member rather than being lost, the pool retries its
// replacements without flooding the log (it logged ten lines a second
// per member), and once a node offers the kind again the waiting
// requests are answered there.
func TestPoolAllNodesGone(t *testing.T) {
	root := testproc.TempDir(t)
	a := testproc.Start(t, "kind-node", envRoot+"="+root, envNS+"=poolgone")
	a.Expect(t, "ready", time.Minute)
	var w poolWarnings
	s := joinT(t, root, "poolgone", WithLogger(slog.New(slog.NewTextHandler(&w, nil))))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := s.SpawnPool(ctx, "doubler", 2)
	if err != nil {
		t.Fatal(err)
	}
	a.Kill()
	time.Sleep(time.Second)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.Request(pool, &Ping{N: i}, 15*time.Second)
			if err != nil || got.(*Pong).N != 2*i {
				t.Errorf("request %d while no node offered the kind: %v, %v", i, got, err)
			}
		}()
	}
	time.Sleep(3 * time.Second)
	if n := w.n.Load(); n > 4 {
		t.Errorf("%d log lines about the pool in 4s without a node", n)
	}
	b := testproc.Start(t, "kind-node", envRoot+"="+root, envNS+"=poolgone")
	b.Expect(t, "ready", time.Minute)
	wg.Wait()
}

func init() { helpers["linker"] = helperLinker }

// helperLinker spawns an actor of kind "doubler" on another node, linked
// to a local actor of its own, prints "child <address> <id>" and waits.
func helperLinker() error {
	s, err := helperJoin()
	if err != nil {
		return err
	}
	defer s.Close()
	parent := s.Root.Spawn(PropsFromFunc(func(Context) {}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	child, err := s.SpawnKind(ctx, "doubler", LinkedTo(parent))
	if err != nil {
		return err
	}
	fmt.Println("child", child.Address, child.Id)
	commands(func(string, []string) {})
	return nil
}

// A child spawned in another process linked to its parent is stopped
// when the parent's process is killed with kill -9: no orphan is left.
func TestLinkedChildStopsWithParentProcess(t *testing.T) {
	root := testproc.TempDir(t)
	k := testproc.Start(t, "kind-node", envRoot+"="+root, envNS+"=links")
	k.Expect(t, "ready", time.Minute)
	s := joinT(t, root, "links")
	p := testproc.Start(t, "linker", envRoot+"="+root, envNS+"=links")
	f := strings.Fields(p.Expect(t, "child", time.Minute))
	child := NewPID(f[0], f[1])
	if got, err := s.Request(child, &Ping{N: 4}, 5*time.Second); err != nil || got.(*Pong).N != 8 {
		t.Fatalf("the linked child answered %v, %v", got, err)
	}
	terminated := make(chan time.Time, 1)
	watcher := s.Root.Spawn(PropsFromFunc(func(ctx Context) {
		switch m := ctx.Message().(type) {
		case *Started:
			ctx.Watch(child)
		case *Terminated:
			if m.Who.Equal(child) {
				terminated <- time.Now()
			}
		}
	}))
	defer s.Root.Stop(watcher)
	// The watch is in place once a request through the same node has
	// been answered.
	if _, err := s.Request(child, &Ping{N: 1}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Kill()
	killed := time.Now()
	select {
	case at := <-terminated:
		t.Logf("the linked child stopped %v after kill -9 of its parent's process", at.Sub(killed))
	case <-time.After(10 * time.Second):
		t.Fatal("the linked child still runs 10s after its parent's process was killed")
	}
}
