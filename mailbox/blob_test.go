package mailbox

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/shm"
)

// faults reports whether fn faults (a write to read-only memory).
func faults(fn func()) (faulted bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() { faulted = recover() != nil }()
	fn()
	return false
}

func blobFiles(t *testing.T, n *node) []string {
	t.Helper()
	names, err := n.mb.cfg.Dir.List()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range names {
		if strings.HasPrefix(f, blobPrefix) {
			out = append(out, f)
		}
	}
	return out
}

// A blob filled in place arrives as a read-only view of the same bytes,
// sealed or not; the sender's Blob is spent, misuse is an error, and
// nothing is left once the receiver releases it.
func TestBlob(t *testing.T) {
	for _, plaintext := range []bool{true, false} {
		t.Run(fmt.Sprintf("plaintext=%v", plaintext), func(t *testing.T) {
			a, b := pair(t, plaintext, shm.RingConfig{}, 0)
			b.mb.Start()
			const size = 3<<20 + 5
			blob, err := a.mb.NewBlob(size)
			if err != nil {
				t.Fatal(err)
			}
			buf := blob.Bytes()
			for i := range buf {
				buf[i] = byte(i * 7)
			}
			if err := a.mb.Send(2, &Outgoing{Kind: wire.KindUser, Target: "t", Corr: 9, Value: blob}); err != nil {
				t.Fatal(err)
			}
			if blob.Bytes() != nil {
				t.Fatal("the sender still has the bytes of a blob it sent")
			}
			if err := a.mb.Send(2, &Outgoing{Kind: wire.KindUser, Value: blob}); !errors.Is(err, ErrBlobSent) {
				t.Fatalf("sending a blob twice: %v, want ErrBlobSent", err)
			}
			if err := blob.Release(); !errors.Is(err, ErrBlobSent) {
				t.Fatalf("releasing a blob sent: %v, want ErrBlobSent", err)
			}
			m := b.expect(t, 1)[0]
			got, ok := m.Value.(*Blob)
			if m.Err != nil || !ok || m.Corr != 9 || m.Target != "t" {
				t.Fatalf("received %T %v, corr %d", m.Value, m.Err, m.Corr)
			}
			view := got.Bytes()
			if len(view) != size || got.Len() != size {
				t.Fatalf("received %d bytes, want %d", len(view), size)
			}
			for i := range view {
				if view[i] != byte(i*7) {
					t.Fatalf("byte %d is %d, want %d", i, view[i], byte(i*7))
				}
			}
			if !faults(func() { view[100] = 1 }) {
				t.Fatal("the receiver's view is writable")
			}
			if plaintext {
				// The sender's pages are write-protected beside the
				// hand-over: soon after it.
				protected := false
				for end := time.Now().Add(5 * time.Second); !protected && time.Now().Before(end); time.Sleep(time.Millisecond) {
					protected = faults(func() { buf[len(buf)-1] = 1 })
				}
				if !protected {
					t.Fatal("the sender could still write the pages it handed over")
				}
			}
			if f := blobFiles(t, a); len(f) != 0 {
				t.Fatalf("blob files once received: %v", f)
			}
			if err := got.Release(); err != nil {
				t.Fatal(err)
			}
			if got.Bytes() != nil {
				t.Fatal("a released blob still has bytes")
			}
			if err := got.Release(); !errors.Is(err, ErrBlobReleased) {
				t.Fatalf("second Release: %v, want ErrBlobReleased", err)
			}
			// A blob never sent is removed by Release.
			unsent, err := a.mb.NewBlob(100)
			if err != nil {
				t.Fatal(err)
			}
			if err := unsent.Release(); err != nil {
				t.Fatal(err)
			}
			if f := blobFiles(t, a); len(f) != 0 {
				t.Fatalf("blob files after an unsent blob's Release: %v", f)
			}
			if a.mb.ool.used != 0 {
				t.Fatalf("%d bytes of quota in use", a.mb.ool.used)
			}
		})
	}
}

func TestBlobBadInput(t *testing.T) {
	a, _ := pair(t, true, shm.RingConfig{}, 0)
	for _, n := range []int{0, -1} {
		if _, err := a.mb.NewBlob(n); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("NewBlob(%d): %v, want ErrInvalidArgument", n, err)
		}
	}
	a.mb.ool.quota = 1 << 20
	if _, err := a.mb.NewBlob(2 << 20); !errors.Is(err, ErrQuota) {
		t.Errorf("a blob over the quota: %v, want ErrQuota", err)
	}
	b, err := a.mb.NewBlob(10)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.mb.PostEach([]uint64{2, 3}, &Outgoing{Kind: wire.KindUser, Value: b}, func(uint64, error) {}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("a blob to two nodes: %v, want ErrInvalidArgument", err)
	}
}
