package actor

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/mailbox"
	"github.com/shmactor/shmactor/shm"
)

// Two nodes in one process (so the race detector sees both): many
// goroutines send to named actors through a small inbox while their
// handlers alternate quick runs and runs longer than the hand-off
// budget, so the pump runs some of them and hands itself off from
// others. Each actor gets every message once, each sender's in order.
func TestStressOrderAcrossHandOffs(t *testing.T) {
	root := testproc.TempDir(t)
	opts := []Option{WithInbox(shm.RingConfig{Cells: 64}), WithBackPressure(mailbox.Block, time.Minute)}
	a, b := joinT(t, root, "order", opts...), joinT(t, root, "order", opts...)
	const senders, each, sinks = 6, 300, 3
	var got atomic.Int64
	var errs []string
	var mu sync.Mutex
	fail := func(format string, args ...any) {
		mu.Lock()
		if len(errs) < 10 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	var pids []*PID
	for k := range sinks {
		next := map[string]int{} // the actor's own: it runs one message at a time
		calls := 0
		name := fmt.Sprintf("sink%d", k)
		if _, err := b.SpawnNamed(PropsFromFunc(func(ctx Context) {
			p, ok := ctx.Message().(*Ping)
			if !ok {
				return
			}
			if p.N != next[p.Note] {
				fail("%s: sender %s message %d, want %d", name, p.Note, p.N, next[p.Note])
			}
			next[p.Note] = p.N + 1
			got.Add(1)
			calls++
			switch { // around the 500 us hand-off budget
			case calls%17 == 0:
				spin(1500 * time.Microsecond)
			case calls%5 == 0:
				spin(450 * time.Microsecond)
			}
		}), name); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, mustLookup(t, a, name))
	}
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			note := fmt.Sprint(g)
			for i := range each {
				for _, pid := range pids {
					a.Root.Send(pid, &Ping{N: i, Note: note})
				}
			}
		}()
	}
	wg.Wait()
	const n = senders * each * sinks
	for deadline := time.Now().Add(time.Minute); got.Load() < n && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // a message handled twice would show now
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 || got.Load() != n {
		t.Fatalf("%d of %d handled; %v; sender %+v, receiver %+v", got.Load(), n, errs, a.Stats(), b.Stats())
	}
	t.Logf("receiver %+v", b.Stats())
}

// Handlers that block on a reply coming through their own inbox, many at
// once and many times: the pump hands itself off from each, and every
// request is answered.
func TestStressRepliesThroughOwnInbox(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "relay"), joinT(t, root, "relay")
	if _, err := a.SpawnNamed(echo("echo"), "echo"); err != nil {
		t.Fatal(err)
	}
	echoPID := mustLookup(t, b, "echo")
	const relays = 4
	var pids []*PID
	for k := range relays {
		name := fmt.Sprintf("relay%d", k)
		if _, err := b.SpawnNamed(PropsFromFunc(func(ctx Context) {
			p, ok := ctx.Message().(*Ping)
			if !ok {
				return
			}
			res, err := ctx.RequestFuture(echoPID, &Ping{N: p.N}, 10*time.Second).Result()
			if pong, ok := res.(*Pong); err == nil && ok {
				ctx.Respond(&Pong{N: pong.N, From: name})
				return
			}
			ctx.Respond(&Pong{N: -1, From: fmt.Sprint(res, err)})
		}), name); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, mustLookup(t, a, name))
	}
	var wg sync.WaitGroup
	for k, pid := range pids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				res, err := a.Root.RequestFuture(pid, &Ping{N: i}, 10*time.Second).Result()
				if pong, ok := res.(*Pong); err != nil || !ok || pong.N != i || pong.From != fmt.Sprintf("relay%d", k) {
					t.Errorf("relay%d request %d: %+v, %v", k, i, res, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if st := b.Stats(); st.HandOffs == 0 {
		t.Errorf("no hand-off while handlers waited on their own inbox: %+v", st)
	}
}

// A receiver closes while messages stream in and its actors' slow runs
// are being handed off: Close returns promptly, and the sender learns the
// node is gone (its sends become dead letters) without hanging.
func TestStressCloseDuringHandOffs(t *testing.T) {
	start := time.Now()
	for round := 0; round < 2 || time.Since(start) < time.Second; round++ {
		root := testproc.TempDir(t)
		a, b := joinT(t, root, "closing"), joinT(t, root, "closing")
		var handled atomic.Int64
		if _, err := b.SpawnNamed(PropsFromFunc(func(ctx Context) {
			if _, ok := ctx.Message().(*Ping); ok {
				if handled.Add(1)%3 == 0 {
					time.Sleep(2 * time.Millisecond) // loses the pump
				}
			}
		}), "sink"); err != nil {
			t.Fatal(err)
		}
		pid := mustLookup(t, a, "sink")
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				a.Root.Send(pid, &Ping{N: i})
			}
		}()
		for handled.Load() < 20 {
			time.Sleep(100 * time.Microsecond)
		}
		t0 := time.Now()
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(t0); took > 2*time.Second {
			t.Fatalf("round %d: Close took %v", round, took)
		}
		// The sender sees the node go and stops being able to reach it.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			if _, err := a.Registry().Node(b.NodeID()); err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the closed node is still seen", round)
			}
		}
		close(stop)
		<-done
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
