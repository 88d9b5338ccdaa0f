package mailbox

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/shm"
)

// An out-of-line message whose reference never reached the inbox (the
// inbox was full) leaves no segment behind: its bytes do not count as
// on their way, against the quota or the receiver's window, so sends
// go on once the receiver has taken what did arrive.
func TestOutOfLineFailedPush(t *testing.T) {
	for _, tc := range []struct {
		policy Policy
		post   bool
	}{{FailFast, false}, {DropNewest, false}, {FailFast, true}, {DropNewest, true}} {
		policy := tc.policy
		t.Run(fmt.Sprintf("%v/post=%v", policy, tc.post), func(t *testing.T) {
			a, b := pair(t, true, shm.RingConfig{Cells: 16, CellSize: 128, MaxRecord: 400}, 0)
			big := &note{Text: string(make([]byte, 1<<20))}
			sent, failed := 0, 0
			for i := 0; i < 100; i++ {
				send := a.mb.SendPolicy
				if tc.post {
					send = a.mb.PostPolicy
				}
				err := send(2, &Outgoing{Kind: wire.KindUser, Value: big}, policy)
				switch {
				case err == nil:
					sent++
				case errors.Is(err, ErrFull) || errors.Is(err, ErrDropped):
					failed++
				default:
					t.Fatal(err)
				}
			}
			b.mb.Start()
			if tc.post {
				// Posts fail in the writer: count what arrives and
				// what comes back undelivered.
				got := 0
				for got+failed < 100 {
					select {
					case <-b.got:
						got++
					case <-a.lost:
						failed++
					case <-time.After(10 * time.Second):
						t.Fatalf("%d received, %d failed of 100", got, failed)
					}
				}
				sent = got
			} else {
				b.expect(t, sent)
			}
			if sent == 0 || failed == 0 {
				t.Fatalf("%d sent, %d failed: the inbox should have filled", sent, failed)
			}
			a.mb.ool.mu.Lock()
			a.mb.ool.reclaim()
			left, used, pooled := len(a.mb.ool.sent), a.mb.ool.used, a.mb.ool.pooled
			a.mb.ool.mu.Unlock()
			if left != 0 || used != pooled {
				t.Fatalf("after the receiver took all %d messages sent: %d segments on their way, %d bytes used, %d pooled", sent, left, used, pooled)
			}
			if f := oolFiles(t, a); len(f) > sent {
				t.Fatalf("%d segments for %d messages sent: %v", len(f), sent, f)
			}
			if err := a.mb.PostPolicy(2, &Outgoing{Kind: wire.KindUser, Value: big}, FailFast); err != nil {
				t.Fatalf("a send to an inbox emptied: %v", err)
			}
			b.expect(t, 1)
		})
	}
}
