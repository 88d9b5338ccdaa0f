package mailbox

import (
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
