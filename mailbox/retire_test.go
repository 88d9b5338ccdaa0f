package mailbox

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/shm"
)

// shortRetireLimit makes retirements give up waiting sooner, for the
// length of a test.
func shortRetireLimit(t *testing.T, d time.Duration) {
	old := retireLimit
	retireLimit = d
	t.Cleanup(func() { retireLimit = old })
}

// slowHandler makes n's handler take d per message before it hands the
// message on, and counts what it handled. Call it before Start.
func slowHandler(n *node, d time.Duration) *atomic.Int64 {
	var handled atomic.Int64
	h := n.mb.in.handler
	n.mb.in.handler = func(m *Message) {
		time.Sleep(d)
		h(m)
		handled.Add(1)
	}
	return &handled
}

// A pump that is slow but hands messages on all the while is not given up
// on: what was in the inbox when AfterDrained was called is handed on
// before fn runs, however long that takes. (fn is what releases a
// departed peer's key: run early, the rest of its frames fail to open.)
func TestAfterDrainedWaitsForSlowPump(t *testing.T) {
	shortRetireLimit(t, 100*time.Millisecond)
	a, b := pair(t, false, shm.RingConfig{}, time.Minute)
	handled := slowHandler(b, time.Millisecond)
	b.mb.Start()
	const n = 300 // 300 ms or more to hand on, three retire limits
	for i := range n {
		if err := a.mb.Send(2, &Outgoing{Kind: wire.KindUser, Value: &note{N: i}}); err != nil {
			t.Fatal(err)
		}
	}
	ran := make(chan int64, 1)
	b.mb.AfterDrained(func() { ran <- handled.Load() })
	select {
	case got := <-ran:
		if got != n {
			t.Fatalf("AfterDrained ran after %d of the %d messages in the inbox were handed on", got, n)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("AfterDrained never ran; %d handled", handled.Load())
	}
	b.expect(t, n)
}

// A pump that makes no progress at all (its handler is stuck) does not
// hold a retirement for ever: it runs after the retire limit.
func TestAfterDrainedGivesUpOnStuckPump(t *testing.T) {
	shortRetireLimit(t, 100*time.Millisecond)
	a, b := pair(t, false, shm.RingConfig{}, time.Minute)
	release := make(chan struct{})
	h := b.mb.in.handler
	entered := make(chan struct{}, 1)
	b.mb.in.handler = func(m *Message) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		h(m)
	}
	defer close(release)
	b.mb.Start()
	for i := range 3 {
		if err := a.mb.Send(2, &Outgoing{Kind: wire.KindUser, Value: &note{N: i}, Alone: true}); err != nil {
			t.Fatal(err)
		}
	}
	<-entered
	ran := make(chan struct{})
	t0 := time.Now()
	b.mb.AfterDrained(func() { close(ran) })
	select {
	case <-ran:
		if took := time.Since(t0); took < 100*time.Millisecond {
			t.Fatalf("AfterDrained ran after %v, before the pump handed anything on", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("AfterDrained waits for ever on a stuck pump")
	}
}
