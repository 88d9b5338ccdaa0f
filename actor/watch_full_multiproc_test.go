//go:build unix

package actor

import (
	"errors"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/mailbox"
)

// A Watch that finds the watched actor's inbox full (its process
// paused, its node alive) is not taken for the node's death: it is sent
// again until it lands, and Terminated comes only when the node does
// go. It used to end the watch at once with "node gone", which made a
// supervised child's stand-in spawn a second copy of a live child.
func TestWatchOfBusyNodeWaits(t *testing.T) {
	p, s, pid := busyNode(t, "busywatch")
	if err := p.Stop(); err != nil {
		t.Skip("cannot pause a process here:", err)
	}
	paused := true
	defer func() {
		if paused {
			p.Cont()
		}
	}()
	// Fill its inbox: with large messages, then with small ones, until
	// not even a small one fits.
	for _, msg := range []any{&Big{Data: make([]byte, 48<<10)}, &Ping{N: 1}} {
		full := s.Stats().Full
		for i := 0; s.Stats().Full == full; i++ {
			if err := s.Send(pid, msg); err != nil && !errors.Is(err, mailbox.ErrFull) {
				t.Fatal(err)
			}
			if i > 1000000 {
				t.Fatalf("the paused node's inbox never filled with %T", msg)
			}
		}
	}
	terminated := watchAll(t, s, pid)
	select {
	case m := <-terminated:
		t.Fatalf("the watch of an actor whose node is only busy ended: %v (%v)", m.Who, m.Why)
	case <-time.After(time.Second):
	}
	paused = false
	if err := p.Cont(); err != nil {
		t.Fatal(err)
	}
	// Once the node drains its inbox the Watch lands; a request through
	// the same way shows it has.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := s.Request(pid, &Ping{N: 1}, 2*time.Second); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the resumed node does not answer")
		}
	}
	time.Sleep(2 * watchRetry)
	select {
	case m := <-terminated:
		t.Fatalf("Terminated while the node lives: %v (%v)", m.Who, m.Why)
	default:
	}
	p.Kill()
	select {
	case m := <-terminated:
		if !samePID(m.Who, pid) || m.Why != TerminatedNodeGone {
			t.Fatalf("Terminated %v (%v), want the busy actor, node gone", m.Who, m.Why)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no Terminated 10s after kill -9 of the node: the retried Watch never landed")
	}
}

type unwatchNow struct{}

// A Watch refused by a full inbox and sent again must not outlive an
// Unwatch that came after it: the retried Watch used to put the watch back
// (in this process's table of watches, and on the watched node), so a
// watcher that had unwatched still got Terminated when the node went.
func TestUnwatchWhileWatchRetried(t *testing.T) {
	p, s, pid := busyNode(t, "unwatchretry")

	// The sentinel's watch lands while the node runs: its Terminated says
	// when this process has seen the node go.
	gone := watchAll(t, s, pid)
	if _, err := s.Request(pid, &Ping{N: 1}, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	if err := p.Stop(); err != nil {
		t.Skip("cannot pause a process here:", err)
	}
	// SIGSTOP takes effect a little later; fill once it has, and top up
	// right before the Watch.
	time.Sleep(200 * time.Millisecond)
	for _, msg := range []any{&Big{Data: make([]byte, 48<<10)}, &Ping{N: 1}, &Ping{N: 2}} {
		full := s.Stats().Full
		for i := 0; s.Stats().Full == full; i++ {
			if err := s.Send(pid, msg); err != nil && !errors.Is(err, mailbox.ErrFull) {
				t.Fatal(err)
			}
			if i > 1000000 {
				t.Fatalf("the paused node's inbox never filled with %T", msg)
			}
		}
	}
	// Keep it full: the ring can free a cell now and then (a reclaimed
	// one), and the Watch must find no room until the Unwatch is sent.
	stopFill := make(chan struct{})
	filled := make(chan struct{})
	go func() {
		defer close(filled)
		for {
			select {
			case <-stopFill:
				return
			default:
			}
			s.Send(pid, &Ping{N: 3})
			time.Sleep(time.Millisecond)
		}
	}()
	terminated := make(chan *Terminated, 4)
	unwatched := make(chan struct{})
	watcher := s.Root.Spawn(PropsFromFunc(func(ctx Context) {
		switch m := ctx.Message().(type) {
		case *Started:
			ctx.Watch(pid) // refused: the inbox is full
		case unwatchNow:
			ctx.Unwatch(pid)
			close(unwatched)
		case *Terminated:
			terminated <- m
		}
	}))
	defer s.Root.Stop(watcher)
	// Let the Watch be refused and sent again a few times, then unwatch.
	time.Sleep(3 * watchRetry)
	s.Root.Send(watcher, unwatchNow{})
	<-unwatched
	time.Sleep(3 * watchRetry)
	close(stopFill)
	<-filled

	p.Kill()
	select {
	case <-gone:
	case <-time.After(30 * time.Second):
		t.Fatal("the sentinel got no Terminated 30s after kill -9 of the node")
	}
	select {
	case m := <-terminated:
		t.Fatalf("a watcher that had unwatched got Terminated %v (%v)", m.Who, m.Why)
	case <-time.After(10 * watchRetry):
	}
}

// watchAll watches pid from an actor of its own, stopped at the test's
// end, and returns the Terminated messages it gets.
func watchAll(t testing.TB, s *System, pid *PID) <-chan *Terminated {
	t.Helper()
	terminated := make(chan *Terminated, 4)
	watcher := s.Root.Spawn(PropsFromFunc(func(ctx Context) {
		switch m := ctx.Message().(type) {
		case *Started:
			ctx.Watch(pid)
		case *Terminated:
			terminated <- m
		}
	}))
	t.Cleanup(func() { s.Root.Stop(watcher) })
	return terminated
}

// busyNode starts a process serving the echo actor "busy" in namespace
// ns and joins it with sends that fail at once on a full inbox (so that
// a paused node's inbox fills); it skips under emulation, where pausing
// a node can stall reaping.
func busyNode(t *testing.T, ns string) (*testproc.Proc, *System, *PID) {
	t.Helper()
	if testproc.Emulated() {
		t.Skip("pausing a node under emulation can stall reaping")
	}
	root := testproc.TempDir(t)
	p := testproc.Start(t, "echo-node", envRoot+"="+root, envNS+"="+ns, envName+"=busy")
	p.Expect(t, "ready", time.Minute)
	s := joinT(t, root, ns, WithBackPressure(mailbox.FailFast, 0))
	return p, s, mustLookup(t, s, "busy")
}
