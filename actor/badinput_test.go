package actor

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/mailbox"
	"github.com/shmactor/shmactor/registry"
	"github.com/shmactor/shmactor/shm"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
	}
}

// A message type the sender has not registered is refused at the sender
// with a clear error (System.Send/Request), or dead-lettered (Root.Send).
func TestUnregisteredTypeRefusedAtSender(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "bad"), joinT(t, root, "bad")
	if _, err := a.SpawnNamed(echo("a"), "echo"); err != nil {
		t.Fatal(err)
	}
	pid, _ := b.Lookup("echo")
	err := b.Send(pid, &Unregistered{X: 1})
	if !errors.Is(err, ErrUnregistered) || !strings.Contains(err.Error(), "actor.Unregistered") {
		t.Fatalf("Send of an unregistered type: %v", err)
	}
	if _, err := b.Request(pid, &Unregistered{}, time.Second); !errors.Is(err, ErrUnregistered) {
		t.Fatalf("Request of an unregistered type: %v", err)
	}
	dead := make(chan *DeadLetterEvent, 1)
	sub := b.EventStream.Subscribe(func(m any) {
		if d, ok := m.(*DeadLetterEvent); ok {
			select {
			case dead <- d:
			default:
			}
		}
	})
	defer b.EventStream.Unsubscribe(sub)
	before := b.Stats().Undeliverable
	b.Root.Send(pid, &Unregistered{X: 2})
	select {
	case d := <-dead:
		if _, ok := d.Message.(*Unregistered); !ok {
			t.Fatalf("dead letter carries %T", d.Message)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Root.Send of an unregistered type made no dead letter")
	}
	if b.Stats().Undeliverable != before+1 {
		t.Fatal("undeliverable not counted")
	}
	// A request with an unregistered type fails fast, not by timeout.
	start := time.Now()
	_, err = b.Root.RequestFuture(pid, &Unregistered{}, time.Minute).Result()
	if !errors.Is(err, ErrDeadLetter) || time.Since(start) > 5*time.Second {
		t.Fatalf("RequestFuture of an unregistered type: %v after %v", err, time.Since(start))
	}
}

// A type the receiver has not registered is dead-lettered there with one
// log line naming the type; a waiting requester fails fast.
func TestUnregisteredTypeDeadLetteredAtReceiver(t *testing.T) {
	root := testproc.TempDir(t)
	var logs syncBuffer
	s := joinT(t, root, "stranger", WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if _, err := s.SpawnNamed(echo("parent"), "parent-echo"); err != nil {
		t.Fatal(err)
	}
	p := testproc.Start(t, "stranger", env(root, "stranger", envName+"=parent-echo")...)
	if got := p.Expect(t, "result", time.Minute); !strings.HasPrefix(got, "true true") {
		t.Fatalf("stranger's request: %s", got)
	}
	if s.Stats().DeadLettered != 1 || s.Stats().Undecodable != 1 {
		t.Fatalf("stats %+v", s.Stats())
	}
	if !strings.Contains(logs.String(), "actor.OnlyStranger") || !strings.Contains(logs.String(), "dead-lettered") {
		t.Fatalf("no log line naming the type:\n%s", logs.String())
	}
	// The pump goes on.
	if _, err := s.Root.RequestFuture(mustLookup(t, s, "parent-echo"), &Ping{N: 1}, 5*time.Second).Result(); err != nil {
		t.Fatal(err)
	}
}

func mustLookup(t *testing.T, s *System, name string) *PID {
	t.Helper()
	pid, err := s.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// A message too large for the receiver's inbox travels out of line and
// arrives whole; past the out-of-line quota it fails with ErrQuota at
// once, and with out-of-line messages off with ErrTooLarge.
func TestOversizedMessage(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "big"), joinT(t, root, "big", WithOutOfLineQuota(3<<20))
	off := joinT(t, root, "big", WithOutOfLineQuota(-1))
	bigEcho := PropsFromFunc(func(ctx Context) {
		if m, ok := ctx.Message().(*Big); ok {
			ctx.Respond(m)
		}
	})
	if _, err := a.SpawnNamed(bigEcho, "echo"); err != nil {
		t.Fatal(err)
	}
	pid := mustLookup(t, b, "echo")
	data := bytes.Repeat([]byte("0123456789abcdef"), (2<<20)/16)
	got, err := b.Request(pid, &Big{Data: data}, 10*time.Second)
	if err != nil {
		t.Fatalf("a 2 MiB request: %v", err)
	}
	if g, ok := got.(*Big); !ok || !bytes.Equal(g.Data, data) {
		t.Fatalf("a 2 MiB request came back as %T", got)
	}
	err = b.Send(pid, &Big{Data: make([]byte, 4<<20)})
	if !errors.Is(err, mailbox.ErrQuota) {
		t.Fatalf("a 4 MiB message with a 3 MiB quota: %v, want mailbox.ErrQuota", err)
	}
	checkMessage(t, err)
	err = off.Send(pid, &Big{Data: make([]byte, 100<<10)})
	if !errors.Is(err, shm.ErrTooLarge) || !errors.Is(err, mailbox.ErrTooLarge) {
		t.Fatalf("oversized Send with out-of-line messages off: %v", err)
	}
	if _, rerr := off.Request(pid, &Big{Data: make([]byte, 100<<10)}, time.Minute); !errors.Is(rerr, mailbox.ErrTooLarge) {
		t.Fatalf("oversized Request with out-of-line messages off: %v", rerr)
	}
	if err := off.Send(pid, &Big{Data: make([]byte, 60<<10)}); err != nil {
		t.Fatalf("a large message that fits: %v", err)
	}
}

// Frames that are garbage, or tampered with, are counted, logged and
// dropped; the pump keeps delivering.
func TestTamperedFramesDropped(t *testing.T) {
	root := testproc.TempDir(t)
	var logs syncBuffer
	a := joinT(t, root, "tamper", WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	b := joinT(t, root, "tamper")
	if _, err := a.SpawnNamed(echo("a"), "echo"); err != nil {
		t.Fatal(err)
	}
	pid := mustLookup(t, b, "echo")
	if _, err := b.Root.RequestFuture(pid, &Ping{}, 5*time.Second).Result(); err != nil {
		t.Fatal(err)
	}
	// Capture a real frame from b to a by reading a's inbox ring directly.
	inbox, err := shm.OpenRing(a.reg.Dir(), registry.NodeFile("inbox", a.NodeID()))
	if err != nil {
		t.Fatal(err)
	}
	defer inbox.Close()
	for i, frame := range [][]byte{
		[]byte("not a frame"),
		{0x9c, 0x01, 0x05, 0x01}, // a header cut short
		forged(t, b, a.NodeID()),
	} {
		if err := inbox.TryPush(frame); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	waitFor(t, "rejected frames not counted", func() bool { return a.Stats().Rejected >= 3 })
	// The pump counts a frame, then logs it.
	waitFor(t, "rejected frames not logged", func() bool {
		return strings.Contains(logs.String(), "failed to open") && strings.Contains(logs.String(), "malformed frame")
	})
	if _, err := b.Root.RequestFuture(pid, &Ping{N: 2}, 5*time.Second).Result(); err != nil {
		t.Fatalf("after tampered frames: %v", err)
	}
}

// forged returns a frame from sender to node, sealed the way the mailbox
// seals, with one bit of its ciphertext flipped.
func forged(t *testing.T, sender *System, node uint64) []byte {
	t.Helper()
	b := sealedFrame(t, sender, node, []byte{0x80}, wire.Header{Kind: wire.KindUser, Target: "echo", Type: "protoactor.PoisonPill"})
	b[len(b)-20] ^= 1
	return b
}

// A request to an actor that does not exist on another node fails with
// ErrDeadLetter at once, not by timeout, and is a dead letter there.
func TestRequestToMissingActorFailsFast(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "missing"), joinT(t, root, "missing")
	dead := make(chan *DeadLetterEvent, 4)
	a.EventStream.Subscribe(func(m any) {
		if d, ok := m.(*DeadLetterEvent); ok {
			dead <- d
		}
	})
	ghost := NewPID(a.NodeAddress(a.NodeID()), "no-such-actor")
	start := time.Now()
	_, err := b.Root.RequestFuture(ghost, &Ping{}, time.Minute).Result()
	if !errors.Is(err, ErrDeadLetter) || time.Since(start) > 5*time.Second {
		t.Fatalf("request to a missing actor: %v after %v", err, time.Since(start))
	}
	select {
	case d := <-dead:
		if d.PID.Id != "no-such-actor" {
			t.Fatalf("dead letter for %v", d.PID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no dead letter at the receiver")
	}
	if _, err := b.Lookup("no-such-name"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Lookup of an unknown name: %v", err)
	}
}

// Close releases every name, leaves the namespace, and is harmless twice.
func TestCloseUnregisters(t *testing.T) {
	root := testproc.TempDir(t)
	a := joinT(t, root, "close")
	b, err := Join("close", WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"one", "two"} {
		if _, err := b.SpawnNamed(echo(n), n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.SpawnNamed(echo("x"), "one"); !errors.Is(err, registry.ErrNameTaken) {
		t.Fatalf("spawning a taken name: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := b.SpawnNamed(echo("y"), "three"); !errors.Is(err, ErrClosed) {
		t.Fatalf("SpawnNamed after Close: %v", err)
	}
	waitFor(t, "names still held after Close", func() bool {
		_, e1 := a.Lookup("one")
		_, e2 := a.Lookup("two")
		return errors.Is(e1, registry.ErrNotFound) && errors.Is(e2, registry.ErrNotFound)
	})
	if _, err := a.SpawnNamed(echo("x"), "one"); err != nil {
		t.Fatalf("taking a name released by Close: %v", err)
	}
	waitFor(t, "the closed node is still in the view", func() bool { return len(a.Registry().Nodes()) == 1 })
}

// A name is released when its actor stops.
func TestNameReleasedWhenActorStops(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "stop"), joinT(t, root, "stop")
	pid, err := a.SpawnNamed(echo("a"), "short-lived")
	if err != nil {
		t.Fatal(err)
	}
	a.Root.Stop(pid)
	waitFor(t, "name not released after the actor stopped", func() bool {
		_, err := b.Lookup("short-lived")
		return errors.Is(err, registry.ErrNotFound)
	})
	if _, err := b.SpawnNamed(echo("b"), "short-lived"); err != nil {
		t.Fatal(err)
	}
}

// Watch, Stop and PoisonPill work across processes: a remote actor
// stopped with Stop or PoisonPill terminates its remote watcher.
func TestRemoteStopPoisonWatch(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "life"), joinT(t, root, "life")
	for _, how := range []string{"stop", "poison"} {
		t.Run(how, func(t *testing.T) {
			name := "target-" + how
			if _, err := a.SpawnNamed(echo("a"), name); err != nil {
				t.Fatal(err)
			}
			pid := mustLookup(t, b, name)
			got := make(chan *Terminated, 1)
			b.Root.Spawn(PropsFromFunc(func(ctx Context) {
				switch m := ctx.Message().(type) {
				case *Started:
					ctx.Watch(pid)
					ctx.Send(ctx.Self(), "watching")
				case string:
					if how == "stop" {
						ctx.Stop(pid)
					} else {
						ctx.Poison(pid)
					}
				case *Terminated:
					got <- m
				}
			}))
			select {
			case m := <-got:
				if m.Who.Id != name || m.Why != TerminatedStopped {
					t.Fatalf("Terminated %+v", m)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no Terminated")
			}
		})
	}
	// Watching an actor that does not exist ends at once with NotFound.
	got := make(chan *Terminated, 1)
	ghost := NewPID(a.NodeAddress(a.NodeID()), "ghost")
	b.Root.Spawn(PropsFromFunc(func(ctx Context) {
		switch m := ctx.Message().(type) {
		case *Started:
			ctx.Watch(ghost)
		case *Terminated:
			got <- m
		}
	}))
	select {
	case m := <-got:
		if m.Why != TerminatedNotFound {
			t.Fatalf("Terminated %+v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no Terminated for a missing actor")
	}
}

// Forward and a request with an explicit sender work across processes:
// the answer goes to the original sender.
func TestForwardAcrossProcesses(t *testing.T) {
	root := testproc.TempDir(t)
	a, b, c := joinT(t, root, "fwd"), joinT(t, root, "fwd"), joinT(t, root, "fwd")
	if _, err := c.SpawnNamed(echo("c"), "final"); err != nil {
		t.Fatal(err)
	}
	final := mustLookup(t, b, "final")
	if _, err := b.SpawnNamed(PropsFromFunc(func(ctx Context) {
		if _, ok := ctx.Message().(*Ping); ok {
			ctx.Forward(final)
		}
	}), "middle"); err != nil {
		t.Fatal(err)
	}
	res, err := a.Root.RequestFuture(mustLookup(t, a, "middle"), &Ping{N: 42}, 5*time.Second).Result()
	if p, ok := res.(*Pong); err != nil || !ok || p.N != 42 || p.From != "c" {
		t.Fatalf("forwarded request: %#v, %v", res, err)
	}
}

// A message through a work queue must fit the queue's records: its
// consumers share one ring, and an out-of-line segment is for one
// receiver. The send says so at once.
func TestOversizedQueueMessage(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "bigq"), joinT(t, root, "bigq")
	if _, err := a.ConsumeQueue("jobs", echo("a")); err != nil {
		t.Fatal(err)
	}
	q, err := b.QueuePID("jobs")
	if err != nil {
		t.Fatal(err)
	}
	err = b.Send(q, &Big{Data: make([]byte, 100<<10)})
	if !errors.Is(err, mailbox.ErrTooLarge) {
		t.Fatalf("a 100 KiB message to a work queue: %v, want mailbox.ErrTooLarge", err)
	}
	checkMessage(t, err)
	if err := b.Send(q, &Big{Data: make([]byte, 10<<10)}); err != nil {
		t.Fatalf("a message that fits: %v", err)
	}
}
