//go:build unix

package mailbox

import (
	"errors"
	"os"
	"testing"

	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/shm"
)

type filesNote struct {
	Files []*os.File
}

func init() {
	if err := wire.RegisterName[*filesNote](types, "test.filesNote"); err != nil {
		panic(err)
	}
}

// Descriptors go in batches the kernel takes: a message with more than
// one batch arrives whole. One with more than a receiver takes is
// refused at the send, not sent to sit unclaimed in the receiver.
func TestFilesMany(t *testing.T) {
	a, b := pair(t, true, shm.RingConfig{}, 0)
	b.mb.Start()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	many := func(n int) *filesNote {
		v := &filesNote{Files: make([]*os.File, n)}
		for i := range v.Files {
			v.Files[i] = f
		}
		return v
	}
	if err := a.mb.Send(2, &Outgoing{Kind: wire.KindUser, Value: many(fdBatch*2 + 7)}); err != nil {
		t.Fatal(err)
	}
	m := b.expect(t, 1)[0]
	got, ok := m.Value.(*filesNote)
	if m.Err != nil || !ok || len(got.Files) != fdBatch*2+7 {
		t.Fatalf("received %T, %v", m.Value, m.Err)
	}
	for _, g := range got.Files {
		if g == nil {
			t.Fatal("a descriptor missing")
		}
		g.Close()
	}
	err = a.mb.Send(2, &Outgoing{Kind: wire.KindUser, Value: many(maxFiles + 1)})
	if err == nil {
		t.Fatalf("a message with %d descriptors (a receiver takes %d) was sent", maxFiles+1, maxFiles)
	}
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a message with too many descriptors: %v, want ErrTooLarge", err)
	}
	b.mb.in.files.mu.Lock()
	held := len(b.mb.in.files.byToken)
	b.mb.in.files.mu.Unlock()
	if held != 0 {
		t.Fatalf("the receiver holds %d unclaimed descriptor sets", held)
	}
}
