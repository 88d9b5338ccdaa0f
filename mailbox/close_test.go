package mailbox

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/shm"
)

// A send that found the mailboxes open an instant before Close began
// reaches peer() after Close has passed over the peers: it must not open
// one then (a writer that nothing stops, a ring handle never closed, and
// messages that overtake those queued to the peer Close is draining).
func TestNoPeerOpenedAfterClose(t *testing.T) {
	a, b := pair(t, false, shm.RingConfig{}, time.Minute)
	b.mb.Start()
	if err := a.mb.Send(2, &Outgoing{Kind: wire.KindUser, Value: &note{N: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := a.mb.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // the pump's goroutines end
	before := runtime.NumGoroutine()
	for _, node := range []uint64{2, 2} {
		if p, err := a.mb.peer(node); !errors.Is(err, ErrClosed) {
			t.Errorf("peer(%d) after Close: %v, %v; want ErrClosed", node, p, err)
		}
	}
	a.mb.mu.Lock()
	open := len(a.mb.peers)
	a.mb.mu.Unlock()
	if open != 0 {
		t.Errorf("%d peers open after Close", open)
	}
	time.Sleep(10 * time.Millisecond)
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

// Close takes a peer nobody has opened yet by running its once with
// nothing (so that no ring is opened for it) and only then cancels it. A
// first send to that node that found the peer an instant before, and
// checks it in between, finds it neither opened nor failed nor gone: it
// must fail as stopped, not send into the ring it does not have.
func TestSendToPeerCloseTookUnopened(t *testing.T) {
	a, _ := pair(t, false, shm.RingConfig{}, time.Minute)
	// What peer() makes for a node it has not sent to yet, and what
	// closePeers then does first.
	p := &peer{node: 2, kick: make(chan struct{}, 1), done: make(chan struct{})}
	p.cond.L = &p.mu
	p.ctx, p.gone = context.WithCancel(context.Background())
	defer p.gone()
	a.mb.mu.Lock()
	a.mb.peers[2] = p
	a.mb.mu.Unlock()
	p.once.Do(func() {})
	for _, send := range []func(uint64, *Outgoing) error{a.mb.Post, a.mb.Send} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("send to a peer Close took unopened panics: %v", r)
				}
			}()
			if err := send(2, &Outgoing{Kind: wire.KindUser, Value: &note{N: 1}}); err == nil {
				t.Fatal("send to a peer Close took unopened succeeded")
			}
		}()
	}
}
