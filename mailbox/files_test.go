//go:build unix

package mailbox

import (
	"errors"
	"io"
	"os"
	"testing"

	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/shm"
)

type fileNote struct {
	N    int
	F, G *os.File
}

func init() {
	if err := wire.RegisterName[*fileNote](types, "test.fileNote"); err != nil {
		panic(err)
	}
}

// Files in a message arrive as working descriptors of the receiver: a
// pipe's write end passed, written through, and read at the other end;
// a nil file stays nil.
func TestFilesPassed(t *testing.T) {
	for _, plaintext := range []bool{false, true} {
		a, b := pair(t, plaintext, shm.RingConfig{}, 0)
		b.mb.Start()
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := a.mb.Send(2, &Outgoing{Kind: wire.KindUser, Value: &fileNote{N: 7, F: w}}); err != nil {
			t.Fatal(err)
		}
		w.Close() // the receiver has its own descriptor now
		m := b.expect(t, 1)[0]
		fn, ok := m.Value.(*fileNote)
		if m.Err != nil || !ok || fn.N != 7 || fn.F == nil || fn.G != nil {
			t.Fatalf("received %+v, %v", m.Value, m.Err)
		}
		if _, ok := m.Meta[filesKey]; ok {
			t.Fatal("the descriptor key is left in the metadata")
		}
		if _, err := fn.F.Write([]byte("through the passed pipe")); err != nil {
			t.Fatal(err)
		}
		fn.F.Close()
		got, err := io.ReadAll(r)
		if err != nil || string(got) != "through the passed pipe" {
			t.Fatalf("read %q, %v", got, err)
		}
	}
}

// A message whose descriptors never arrive fails with ErrFiles, and a
// message naming more descriptors than came is refused.
func TestFilesMissing(t *testing.T) {
	a, b := pair(t, true, shm.RingConfig{}, 0)
	b.mb.Start()
	// Senders may not set the key themselves.
	if err := a.mb.Send(2, &Outgoing{Kind: wire.KindUser, Meta: map[string]string{filesKey: "1234:2"}, Value: &fileNote{}}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a message with the reserved key: %v, want ErrInvalidArgument", err)
	}
	// Announce two descriptors with a token nobody sends, as a sender
	// that died before passing them would.
	m := &Outgoing{Kind: wire.KindUser, Meta: map[string]string{filesKey: "1234:2"}, Value: &fileNote{}}
	e := a.mb.pool.Get().(*encoder)
	env, err := a.mb.envelope(e, m)
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.mb.target(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.mb.put(p, env, m, Block, &result{}); err != nil {
		t.Fatal(err)
	}
	got := b.expect(t, 1)[0]
	if !errors.Is(got.Err, ErrFiles) {
		t.Fatalf("a message whose descriptors never came: %v, want ErrFiles", got.Err)
	}
}
