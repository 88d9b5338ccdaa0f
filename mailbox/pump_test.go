package mailbox

import (
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/shm"
)

// Close does not wait for a run on the pump (RunOnPump) that has not been
// handed off yet: the run loses the pump at once and finishes on its own.
func TestCloseDoesNotWaitForRunOnPump(t *testing.T) {
	for _, when := range []string{"in run", "before run"} {
		t.Run(when, func(t *testing.T) {
			a, b := pair(t, false, shm.RingConfig{}, time.Minute)
			b.mb.in.budget = time.Minute // the watchdog would not hand off by itself
			entered := make(chan struct{})
			proceed := make(chan struct{})
			finished := make(chan struct{})
			b.mb.in.handler = func(m *Message) {
				if when == "before run" {
					close(entered)
					<-proceed // Close has begun
				}
				b.mb.RunOnPump(func() {
					if when == "in run" {
						close(entered)
					}
					time.Sleep(1500 * time.Millisecond)
					close(finished)
				})
			}
			b.mb.Start()
			if err := a.mb.Send(2, &Outgoing{Kind: wire.KindUser, Value: &note{N: 1}}); err != nil {
				t.Fatal(err)
			}
			<-entered
			closed := make(chan time.Duration, 1)
			t0 := time.Now()
			go func() {
				b.mb.Close()
				closed <- time.Since(t0)
			}()
			if when == "before run" {
				for b.mb.in.ctx.Err() == nil {
					time.Sleep(time.Millisecond)
				}
				close(proceed)
			}
			select {
			case took := <-closed:
				if took > 700*time.Millisecond {
					t.Fatalf("Close took %v: it waited for the run", took)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Close hangs")
			}
			<-finished
		})
	}
}
