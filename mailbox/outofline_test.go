package mailbox

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/shm"
)

// oolFiles returns the out-of-line segments in n's directory.
func oolFiles(t *testing.T, n *node) []string {
	t.Helper()
	names, err := n.mb.cfg.Dir.List()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range names {
		if strings.HasPrefix(f, oolPrefix) {
			out = append(out, f)
		}
	}
	return out
}

// Messages larger than the receiver's inbox travel out of line, sealed
// or not, arrive whole and in order among in-line ones, and leave no
// segment behind.
func TestOutOfLine(t *testing.T) {
	ring := shm.RingConfig{Cells: 256, CellSize: 256, MaxRecord: 4096}
	for _, plaintext := range []bool{false, true} {
		t.Run(fmt.Sprintf("plaintext=%v", plaintext), func(t *testing.T) {
			a, b := pair(t, plaintext, ring, 0)
			b.mb.Start()
			sizes := []int{10, 5000, 3 * oolChunk, oolChunk - 7, 100, 2*oolChunk + 1, 1}
			for i, n := range sizes {
				text := strings.Repeat(string(rune('a'+i)), n)
				if err := a.mb.Send(2, &Outgoing{Kind: wire.KindUser, Target: "t", Corr: uint64(i), Value: &note{N: i, Text: text}}); err != nil {
					t.Fatalf("send %d bytes: %v", n, err)
				}
			}
			for i, m := range b.expect(t, len(sizes)) {
				v, ok := m.Value.(*note)
				if m.Err != nil || !ok {
					t.Fatalf("message %d: %v %v", i, m.Value, m.Err)
				}
				if v.N != i || len(v.Text) != sizes[i] || v.Text != strings.Repeat(string(rune('a'+i)), sizes[i]) || m.Corr != uint64(i) || m.Target != "t" {
					t.Fatalf("message %d: N %d, %d bytes, corr %d", i, v.N, len(v.Text), m.Corr)
				}
			}
			// The sender keeps the taken segments for its next messages,
			// and removes them when it closes.
			if f := oolFiles(t, a); len(f) > len(sizes) {
				t.Fatalf("%d segments for %d messages: %v", len(f), len(sizes), f)
			}
			a.mb.Close()
			if f := oolFiles(t, a); len(f) != 0 {
				t.Fatalf("segments left after the sender closed: %v", f)
			}
		})
	}
}

// A stream of large messages reuses the segments its receiver has taken
// rather than make one per message.
func TestOutOfLineReuse(t *testing.T) {
	a, b := pair(t, false, shm.RingConfig{Cells: 256, CellSize: 256, MaxRecord: 4096}, 0)
	b.mb.Start()
	made := map[string]bool{}
	for i := 0; i < 50; i++ {
		if err := a.mb.Send(2, &Outgoing{Kind: wire.KindUser, Value: &note{N: i, Text: strings.Repeat("x", 300<<10)}}); err != nil {
			t.Fatal(err)
		}
		if m := b.expect(t, 1)[0]; m.Err != nil || m.Value.(*note).N != i {
			t.Fatalf("message %d: %+v", i, m)
		}
		for _, f := range oolFiles(t, a) {
			made[f] = true
		}
	}
	if len(made) > 2 {
		t.Fatalf("50 messages sent one after another used %d segments", len(made))
	}
}

// The quota bounds what a node has out of line that its receivers have
// not taken: FailFast fails at once with ErrQuota, and the quota comes
// back once the receiver takes its messages.
func TestOutOfLineQuota(t *testing.T) {
	a, b := pair(t, false, shm.RingConfig{Cells: 256, CellSize: 256, MaxRecord: 4096}, 0)
	a.mb.ool.quota = 3 << 20
	big := &note{Text: string(make([]byte, 1<<20))}
	for i := 0; i < 2; i++ {
		if err := a.mb.PostPolicy(2, &Outgoing{Kind: wire.KindUser, Value: big}, FailFast); err != nil {
			t.Fatal(err)
		}
	}
	err := a.mb.PostPolicy(2, &Outgoing{Kind: wire.KindUser, Value: big}, FailFast)
	if !errors.Is(err, ErrQuota) {
		t.Fatalf("third 1 MiB message with a 3 MiB quota: %v, want ErrQuota", err)
	}
	if err := a.mb.PostPolicy(2, &Outgoing{Kind: wire.KindUser, Value: &note{Text: string(make([]byte, 4<<20))}}, Block); !errors.Is(err, ErrQuota) {
		t.Fatalf("a message larger than the quota: %v, want ErrQuota", err)
	}
	b.mb.Start()
	b.expect(t, 2)
	if err := a.mb.PostPolicy(2, &Outgoing{Kind: wire.KindUser, Value: big}, FailFast); err != nil {
		t.Fatalf("after the receiver took its messages: %v", err)
	}
	b.expect(t, 1)
}

// Segments made for a node that goes are removed, and the quota with
// them.
func TestOutOfLineGone(t *testing.T) {
	a, _ := pair(t, false, shm.RingConfig{Cells: 256, CellSize: 256, MaxRecord: 4096}, 0)
	if err := a.mb.Post(2, &Outgoing{Kind: wire.KindUser, Value: &note{Text: string(make([]byte, 100<<10))}}); err != nil {
		t.Fatal(err)
	}
	if f := oolFiles(t, a); len(f) != 1 {
		t.Fatalf("segments before the receiver is gone: %v", f)
	}
	a.mb.Gone(2)
	if f := oolFiles(t, a); len(f) != 0 {
		t.Fatalf("segments after the receiver is gone: %v", f)
	}
	if a.mb.ool.used != 0 {
		t.Fatalf("%d bytes of quota still used", a.mb.ool.used)
	}
}

// A segment changed after it was sealed, or one that is not from the
// sender to this node, is not delivered: the message reaches the handler
// with an error that says why, and the segment is removed.
func TestOutOfLineTampered(t *testing.T) {
	a, b := pair(t, false, shm.RingConfig{Cells: 256, CellSize: 256, MaxRecord: 4096}, 0)
	if err := a.mb.Send(2, &Outgoing{Kind: wire.KindUser, Corr: 7, Value: &note{Text: string(make([]byte, 100<<10))}}); err != nil {
		t.Fatal(err)
	}
	f := oolFiles(t, a)
	if len(f) != 1 {
		t.Fatalf("segments: %v", f)
	}
	seg, err := a.mb.cfg.Dir.OpenSegment(f[0], KindOutOfLine)
	if err != nil {
		t.Fatal(err)
	}
	seg.Body()[oolHeader+5000] ^= 1
	seg.Close()
	b.mb.Start()
	m := b.expect(t, 1)[0]
	if m.Value != nil || m.Err == nil || !strings.Contains(m.Err.Error(), "out-of-line") || m.Corr != 7 {
		t.Fatalf("tampered message: value %v, corr %d, err %v", m.Value, m.Corr, m.Err)
	}
	if f := oolFiles(t, a); len(f) != 0 {
		t.Fatalf("segments left: %v", f)
	}
}

func TestParseOOLName(t *testing.T) {
	n, err := oolName(0x1234, 0xabcdef)
	if err != nil {
		t.Fatal(err)
	}
	if from, to, ok := parseOOLName(n); !ok || from != 0x1234 || to != 0xabcdef {
		t.Fatalf("%q: %x %x %v", n, from, to, ok)
	}
	for _, bad := range []string{"", "ool.", "ool.12", "ool.12.0000000000001234-0000000000abcde", "inbox-0000000000001234", "ool.1.000000000000123x-0000000000abcdef"} {
		if _, _, ok := parseOOLName(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
