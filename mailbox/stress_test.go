package mailbox

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/shm"
)

// ledger accounts for every message of a stress test: sent by sender
// (note.Text) with sequence number note.N, then received, refused at the
// call, or reported undelivered, exactly once.
type ledger struct {
	mu      sync.Mutex
	t       testing.TB
	outcome map[string]map[int]string
	last    map[string]int
	settled int
}

func newLedger(t testing.TB) *ledger {
	return &ledger{t: t, outcome: map[string]map[int]string{}, last: map[string]int{}}
}

func (l *ledger) settle(sender string, n int, how string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.outcome[sender]
	if m == nil {
		m = map[int]string{}
		l.outcome[sender] = m
	}
	if prev, ok := m[n]; ok {
		l.t.Errorf("sender %s message %d %s, and %s before", sender, n, how, prev)
		return
	}
	m[n] = how
	l.settled++
}

// received records a delivery, which must come after every earlier one
// of its sender.
func (l *ledger) received(v *note) {
	l.mu.Lock()
	last, seen := l.last[v.Text]
	if seen && v.N <= last {
		l.t.Errorf("sender %s: message %d delivered after %d", v.Text, v.N, last)
	}
	l.last[v.Text] = v.N
	l.mu.Unlock()
	l.settle(v.Text, v.N, "received")
}

func (l *ledger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.settled
}

// Many senders into a tiny inbox, mixing Post and Send, messages sent
// Alone and in batches, and the three policies, while the receiver runs
// every message on its pump, now quickly, now for longer than the
// hand-off budget: each message is delivered once or refused or reported
// undelivered, never both and never twice; each sender's messages arrive
// in the order it sent them; and the counters agree.
func TestStressManySendersTinyInbox(t *testing.T) {
	for _, cells := range []int{16, 64} {
		t.Run(fmt.Sprintf("cells=%d", cells), func(t *testing.T) {
			a, b := pair(t, false, shm.RingConfig{Cells: cells, CellSize: 256}, time.Minute)
			led := newLedger(t)
			var calls atomic.Int64
			b.mb.in.handler = func(m *Message) {
				v, ok := m.Value.(*note)
				if !ok || m.Err != nil {
					t.Errorf("received %+v", m)
					return
				}
				led.received(v)
				k := calls.Add(1)
				b.mb.RunOnPump(func() {
					switch { // around the 500 us hand-off budget
					case k%13 == 0:
						spin(1500 * time.Microsecond) // loses the pump
					case k%7 == 0:
						spin(600 * time.Microsecond)
					case k%5 == 0:
						spin(400 * time.Microsecond)
					}
				})
			}
			b.mb.Start()
			go func() {
				for l := range a.lost {
					v := l.m.Value.(*note)
					led.settle(v.Text, v.N, "undelivered: "+l.err.Error())
				}
			}()
			const senders, each = 8, 400
			var wg sync.WaitGroup
			for g := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					name := fmt.Sprint(g)
					for i := range each {
						m := &Outgoing{Kind: wire.KindUser, Value: &note{N: i, Text: name}, Alone: (i+g)%5 == 0}
						var err error
						switch (i + g) % 6 {
						case 0, 1:
							err = a.mb.Post(2, m)
						case 2:
							err = a.mb.Send(2, m)
						case 3:
							err = a.mb.PostPolicy(2, m, DropNewest)
						case 4:
							err = a.mb.PostPolicy(2, m, FailFast)
						case 5:
							err = a.mb.SendPolicy(2, m, FailFast)
						}
						if err != nil {
							if !errors.Is(err, ErrFull) && !errors.Is(err, ErrDropped) {
								t.Errorf("sender %s message %d: %v", name, i, err)
							}
							led.settle(name, i, "refused: "+err.Error())
						}
					}
				}()
			}
			wg.Wait()
			for deadline := time.Now().Add(30 * time.Second); led.count() < senders*each; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d messages accounted for; sender %+v, receiver %+v", led.count(), senders*each, a.mb.Stats(), b.mb.Stats())
				}
			}
			time.Sleep(20 * time.Millisecond) // a duplicate would show now
			received, failed := 0, 0
			for _, m := range led.outcome {
				for _, how := range m {
					if how == "received" {
						received++
					} else {
						failed++
					}
				}
			}
			sa, sb := a.mb.Stats(), b.mb.Stats()
			if sa.Sent != uint64(received) || sb.Received != uint64(received) || sa.Full+sa.Dropped+sa.Failed != uint64(failed) || sb.Rejected != 0 {
				t.Fatalf("%d received, %d failed; sender %+v, receiver %+v", received, failed, sa, sb)
			}
			if received < senders*each/4 {
				t.Fatalf("only %d of %d delivered", received, senders*each)
			}
			t.Logf("%d delivered, %d refused or undelivered, %d hand-offs", received, failed, sb.HandOffs)
		})
	}
}

// Close while many senders stream: everything Post accepted is delivered,
// each sender's messages in order, Post refuses with ErrClosed from then
// on, and no peer is left open. (A sender that found the mailboxes open
// an instant before Close used to open a new peer that Close never
// closed: its writer leaked, and its messages overtook those queued to
// the old one. Rounds repeat for a second to meet that instant.)
func TestStressCloseWhileStreaming(t *testing.T) {
	start := time.Now()
	for round := 0; round < 3 || time.Since(start) < time.Second; round++ {
		a, b := pair(t, round%2 == 0, shm.RingConfig{Cells: 64, CellSize: 256}, time.Minute)
		led := newLedger(t)
		b.mb.in.handler = func(m *Message) { led.received(m.Value.(*note)) }
		b.mb.Start()
		const senders = 6
		var accepted atomic.Int64
		var wg sync.WaitGroup
		for g := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprint(g)
				for i := 0; ; i++ {
					err := a.mb.Post(2, &Outgoing{Kind: wire.KindUser, Value: &note{N: i, Text: name}, Alone: g == 0})
					switch {
					case err == nil:
						accepted.Add(1)
					case errors.Is(err, ErrClosed):
						if err := a.mb.Post(2, &Outgoing{Kind: wire.KindUser, Value: &note{N: i + 1, Text: name}}); !errors.Is(err, ErrClosed) {
							t.Errorf("round %d sender %s: Post after ErrClosed: %v", round, name, err)
						}
						return
					default:
						t.Errorf("round %d sender %s message %d: %v", round, name, i, err)
						return
					}
				}
			}()
		}
		for accepted.Load() < 500 {
			time.Sleep(50 * time.Microsecond)
		}
		if err := a.mb.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		n := int(accepted.Load())
		for deadline := time.Now().Add(20 * time.Second); led.count() < n && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if got := led.count(); got != n {
			t.Fatalf("round %d: %d delivered of %d accepted before Close; sender %+v", round, got, n, a.mb.Stats())
		}
		a.mb.mu.Lock()
		open := len(a.mb.peers)
		a.mb.mu.Unlock()
		if open != 0 || t.Failed() {
			t.Fatalf("round %d: %d peers open after Close", round, open)
		}
		select {
		case l := <-a.lost:
			t.Fatalf("round %d: undelivered after Close: %v", round, l.err)
		default:
		}
	}
}

// spin works for d without sleeping.
func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}
