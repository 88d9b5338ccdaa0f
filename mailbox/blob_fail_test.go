package mailbox

import (
	"errors"
	"fmt"
	"testing"

	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/shm"
)

// A blob whose reference cannot reach the inbox (full) fails its send
// and stays the caller's, unsent, with its bytes: nothing is left
// named for the receiver, and it can be sent again.
func TestBlobFailedPush(t *testing.T) {
	for _, plaintext := range []bool{true, false} {
		t.Run(fmt.Sprintf("plaintext=%v", plaintext), func(t *testing.T) {
			a, b := pair(t, plaintext, shm.RingConfig{Cells: 16, CellSize: 128, MaxRecord: 400}, 0)
			sent := 0
			var failed []*Blob
			for i := 0; i < 20; i++ {
				bl, err := a.mb.NewBlob(64 << 10)
				if err != nil {
					t.Fatal(err)
				}
				bl.Bytes()[0] = byte(i)
				err = a.mb.SendPolicy(2, &Outgoing{Kind: wire.KindUser, Value: bl}, FailFast)
				switch {
				case err == nil:
					sent++
				case errors.Is(err, ErrFull):
					failed = append(failed, bl)
					if v := bl.Bytes(); len(v) != 64<<10 || v[0] != byte(i) {
						t.Fatalf("a blob whose send failed has %d bytes", len(v))
					}
				default:
					t.Fatal(err)
				}
			}
			if sent == 0 || len(failed) == 0 {
				t.Fatalf("%d sent, %d failed: the inbox should have filled", sent, len(failed))
			}
			if f := blobFiles(t, a); len(f) != sent+len(failed) && plaintext || len(f) != sent && !plaintext {
				t.Fatalf("%d blob segments for %d blobs sent, %d not: %v", len(f), sent, len(failed), f)
			}
			b.mb.Start()
			for _, m := range b.expect(t, sent) {
				if m.Err != nil {
					t.Fatal(m.Err)
				}
				m.Value.(*Blob).Release()
			}
			// Sent again, they arrive.
			for _, bl := range failed {
				first := bl.Bytes()[0]
				if err := a.mb.Send(2, &Outgoing{Kind: wire.KindUser, Value: bl}); err != nil {
					t.Fatal(err)
				}
				m := b.expect(t, 1)[0]
				got, ok := m.Value.(*Blob)
				if m.Err != nil || !ok || got.Len() != 64<<10 || got.Bytes()[0] != first {
					t.Fatalf("a blob sent again: %v %v", m.Value, m.Err)
				}
				got.Release()
			}
			if f := blobFiles(t, a); len(f) != 0 {
				t.Fatalf("blob segments left once the receiver took what was sent: %v", f)
			}
			a.mb.ool.reclaimBlobs(a.mb.cfg.Dir)
			a.mb.ool.mu.Lock()
			left, used := len(a.mb.ool.sent), a.mb.ool.used
			a.mb.ool.mu.Unlock()
			if left != 0 || used != 0 {
				t.Fatalf("%d segments on their way, %d bytes used", left, used)
			}
		})
	}
}
