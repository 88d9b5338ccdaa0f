package seal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/shmactor/shmactor/internal/wire"
)

type order struct {
	ID       uint64
	Customer string
	SKU      string
	Qty      int32
	Price    float64
	Notes    string
	Lines    []line
}

type line struct {
	SKU string
	Qty int32
}

var reg = func() *wire.Registry {
	r := wire.NewRegistry()
	wire.Register[*order](r)
	return r
}()

// node is one side of a test conversation.
type node struct {
	*Sealer
	id  uint64
	enc *wire.Encoder
	dec *wire.Decoder
}

func newNode(t testing.TB, ns string, id uint64, plaintext bool, opts ...func(*Config)) *node {
	t.Helper()
	cfg := Config{Namespace: ns, Node: id, Plaintext: plaintext}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &node{Sealer: s, id: id, enc: wire.NewEncoder(reg), dec: wire.NewDecoder(reg)}
}

func introduce(t testing.TB, nodes ...*node) {
	t.Helper()
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				if err := a.AddPeer(b.Self()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// envelope builds and seals an envelope from n to node `to`.
func (n *node) envelope(t testing.TB, to uint64, kind wire.Kind, target string, v any) []byte {
	t.Helper()
	seq, epoch, err := n.Next(to)
	if err != nil {
		t.Fatal(err)
	}
	name, err := reg.NameOf(v)
	if err != nil {
		t.Fatal(err)
	}
	h := wire.Header{Kind: kind, From: n.id, To: to, SenderAddress: "shm://ns/" + fmt.Sprint(n.id), SenderID: "$1", Target: target, Corr: 9, Type: name, Seq: seq, Epoch: epoch}
	if !n.Plaintext() {
		h.Flags = wire.FlagSealed
	}
	b := wire.AppendHeader(nil, &h)
	hl := len(b)
	if b, err = n.enc.AppendPayload(b, v); err != nil {
		t.Fatal(err)
	}
	if b, err = n.Seal(b, hl, to, seq); err != nil {
		t.Fatal(err)
	}
	return b
}

// open decodes and opens an envelope at n.
func (n *node) open(frame []byte) (wire.Header, any, error) {
	frame = append([]byte(nil), frame...) // Open works in place
	h, hl, err := n.dec.Header(frame)
	if err != nil {
		return h, nil, err
	}
	p, err := n.Open(frame, hl, Meta{From: h.From, To: h.To, Epoch: h.Epoch, Seq: h.Seq, Sealed: h.Flags&wire.FlagSealed != 0})
	if err != nil {
		return h, nil, err
	}
	v, err := n.dec.Payload(h.Type, p)
	return h, v, err
}

func TestRoundTrip(t *testing.T) {
	for _, plaintext := range []bool{false, true} {
		t.Run(fmt.Sprintf("plaintext=%v", plaintext), func(t *testing.T) {
			a, b := newNode(t, "shop", 1, plaintext), newNode(t, "shop", 2, plaintext)
			introduce(t, a, b)
			for _, kind := range []wire.Kind{wire.KindUser, wire.KindSystem, wire.KindPublish, wire.KindControl} {
				for _, v := range []any{
					&order{ID: 1, Customer: "ada", Lines: []line{{"x", 1}, {"y", 2}}},
					&order{},
					nil,
				} {
					frame := a.envelope(t, 2, kind, "orders", v)
					if o, ok := v.(*order); ok && o.Customer != "" {
						if visible := bytes.Contains(frame, []byte(o.Customer)); visible != plaintext {
							t.Fatalf("plaintext=%v, but the payload is visible=%v in the frame", plaintext, visible)
						}
					}
					h, got, err := b.open(frame)
					if err != nil {
						t.Fatalf("%v %T: %v", kind, v, err)
					}
					if h.Kind != kind || h.Target != "orders" || !reflect.DeepEqual(got, v) {
						t.Fatalf("got %v %q %#v, want %v %#v", h.Kind, h.Target, got, kind, v)
					}
				}
			}
			// And back.
			if _, _, err := a.open(b.envelope(t, 1, wire.KindUser, "reply", &order{ID: 2})); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Every single-bit flip of a sealed 64-byte envelope — header, nonce,
// ciphertext, tag — is rejected.
func TestEveryBitFlipRejected(t *testing.T) {
	a, b := newNode(t, "shop", 1, false), newNode(t, "shop", 2, false)
	introduce(t, a, b)
	frame := a.envelope(t, 2, wire.KindUser, "orders", &order{ID: 1, Customer: "c", SKU: "sku-1", Qty: 2, Price: 9.5})
	h, hl, _ := b.dec.Header(frame)
	payload := len(frame) - hl - TagSize
	if payload < 56 || payload > 72 {
		t.Fatalf("payload is %d bytes, want about 64", payload)
	}
	flips := 0
	for i := range frame {
		for bit := range 8 {
			f := append([]byte(nil), frame...)
			f[i] ^= 1 << bit
			if _, _, err := b.open(f); err == nil {
				t.Fatalf("flip of byte %d bit %d (%s) accepted", i, bit, region(i, hl, len(frame)))
			}
			flips++
		}
	}
	if _, _, err := b.open(frame); err != nil {
		t.Fatalf("the untouched envelope does not open: %v (header %+v)", err, h)
	}
	t.Logf("%d flips of a %d-byte envelope (%d payload) rejected", flips, len(frame), payload)
}

func region(i, hl, n int) string {
	switch {
	case i < hl:
		return "header"
	case i < n-TagSize:
		return "ciphertext"
	}
	return "tag"
}

// An envelope moved to another receiver, target or namespace does not open.
func TestMovedEnvelopesRejected(t *testing.T) {
	a, b, c := newNode(t, "shop", 1, false), newNode(t, "shop", 2, false), newNode(t, "shop", 3, false)
	introduce(t, a, b, c)
	frame := a.envelope(t, 2, wire.KindUser, "orders", &order{ID: 1})

	// To another receiver, as is: it is addressed to b.
	if _, _, err := c.open(frame); !errors.Is(err, ErrWrongReceiver) {
		t.Fatalf("at another receiver: %v", err)
	}
	// Readdressed to c: the header is authenticated data.
	if _, _, err := c.open(rewrite(t, frame, func(h *wire.Header) { h.To = 3 })); !errors.Is(err, ErrAuth) {
		t.Fatalf("readdressed: %v", err)
	}
	// To another target.
	if _, _, err := b.open(rewrite(t, frame, func(h *wire.Header) { h.Target = "payments" })); !errors.Is(err, ErrAuth) {
		t.Fatalf("retargeted: %v", err)
	}
	// Into another namespace where the same node ids and keys exist.
	a2 := &node{Sealer: mustNew(t, Config{Namespace: "shop2", Node: 1, Keys: a.keys}), id: 1, dec: wire.NewDecoder(reg)}
	b2 := &node{Sealer: mustNew(t, Config{Namespace: "shop2", Node: 2, Keys: b.keys}), id: 2, dec: wire.NewDecoder(reg)}
	introduce(t, a2, b2)
	if _, _, err := b2.open(frame); !errors.Is(err, ErrAuth) {
		t.Fatalf("in another namespace: %v", err)
	}
	// The original still opens where it belongs.
	if _, _, err := b.open(frame); err != nil {
		t.Fatal(err)
	}
}

func mustNew(t *testing.T, cfg Config) *Sealer {
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rewrite re-encodes an envelope's header after edit, keeping its body.
func rewrite(t *testing.T, frame []byte, edit func(*wire.Header)) []byte {
	h, hl, err := wire.NewDecoder(reg).Header(frame)
	if err != nil {
		t.Fatal(err)
	}
	edit(&h)
	return append(wire.AppendHeader(nil, &h), frame[hl:]...)
}

func TestReplayWindow(t *testing.T) {
	a, b := newNode(t, "shop", 1, false), newNode(t, "shop", 2, false)
	introduce(t, a, b)
	var frames [][]byte
	for i := range 10 {
		frames = append(frames, a.envelope(t, 2, wire.KindUser, "orders", &order{ID: uint64(i)}))
	}
	// Out of order inside the window: accepted.
	for _, i := range []int{3, 0, 9, 1, 2, 8, 4, 7, 5, 6} {
		if _, _, err := b.open(frames[i]); err != nil {
			t.Fatalf("envelope %d out of order: %v", i, err)
		}
	}
	// Any replay: refused.
	for i := range frames {
		if _, _, err := b.open(frames[i]); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay of %d: %v", i, err)
		}
	}
	// Older than the window: refused even if never seen.
	old := a.envelope(t, 2, wire.KindUser, "orders", &order{})
	for range WindowSize {
		a.Next(2)
	}
	if _, _, err := b.open(a.envelope(t, 2, wire.KindUser, "orders", &order{})); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.open(old); !errors.Is(err, ErrReplay) {
		t.Fatalf("envelope older than the window: %v", err)
	}
}

func TestWindow(t *testing.T) {
	var w window
	try := func(seq uint64) bool {
		if !w.check(seq) {
			return false
		}
		w.accept(seq)
		return true
	}
	for _, c := range []struct {
		seq  uint64
		want bool
	}{
		{0, false}, {1, true}, {1, false}, {5, true}, {3, true}, {3, false}, {2, true},
		{5000, true}, {5000 - WindowSize + 1, true}, {5000 - WindowSize, false}, {4, false},
		{5001, true}, {4999, true}, {1 << 40, true}, {1<<40 - 1, true}, {1<<40 - WindowSize, false},
		{1<<40 - WindowSize + 1, true}, {1<<40 - WindowSize + 1, false},
	} {
		if got := try(c.seq); got != c.want {
			t.Errorf("seq %d: accepted=%v, want %v (top %d)", c.seq, got, c.want, w.top)
		}
	}
	// Every word-alignment of the window edge: the oldest and newest words
	// never alias.
	for off := uint64(0); off < 64; off++ {
		var w window
		top := 100_000 + off
		w.accept(top)
		for s := top - WindowSize + 1; s < top; s++ {
			if !w.check(s) {
				t.Fatalf("top %d: seq %d inside the window refused", top, s)
			}
		}
		w.accept(top - WindowSize + 1)
		if !w.check(top-1) || w.check(top) {
			t.Fatalf("top %d: accepting the oldest changed the newest", top)
		}
	}
}

func TestModeMismatch(t *testing.T) {
	a, b := newNode(t, "shop", 1, true), newNode(t, "shop", 2, false)
	introduce(t, a, b)
	if _, _, err := b.open(a.envelope(t, 2, wire.KindUser, "orders", &order{})); !errors.Is(err, ErrMode) {
		t.Fatalf("plaintext envelope at a sealed node: %v", err)
	}
	if _, _, err := a.open(b.envelope(t, 1, wire.KindUser, "orders", &order{})); !errors.Is(err, ErrMode) {
		t.Fatalf("sealed envelope at a plaintext node: %v", err)
	}
}

func TestUnknownPeerAndEpoch(t *testing.T) {
	a, b := newNode(t, "shop", 1, false), newNode(t, "shop", 2, false)
	introduce(t, a, b)
	frame := a.envelope(t, 2, wire.KindUser, "orders", &order{})
	b.RemovePeer(1)
	if _, _, err := b.open(frame); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("from a removed peer: %v", err)
	}
	if _, err := a.Seal(frame, 10, 99, 1); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("seal to an unknown node: %v", err)
	}
	introduce(t, a, b)
	if _, _, err := b.open(rewrite(t, frame, func(h *wire.Header) { h.Epoch = 7 })); !errors.Is(err, ErrEpoch) {
		t.Fatalf("unknown epoch: %v", err)
	}
}

func TestTrustStore(t *testing.T) {
	dir := t.TempDir()
	alice, err := GenerateIdentity(filepath.Join(dir, "alice.key"), "alice")
	if err != nil {
		t.Fatal(err)
	}
	mallory, _ := GenerateIdentity(filepath.Join(dir, "mallory.key"), "mallory")
	trust, err := ParseTrustStore(strings.NewReader("# who may join\n\n" + alice.AuthorizedLine() + " laptop\n"))
	if err != nil || trust.Len() != 1 {
		t.Fatalf("trust store: %v", err)
	}
	withTrust := func(c *Config) { c.Trust = trust }
	b := newNode(t, "shop", 2, false, withTrust)

	good := newNode(t, "shop", 1, false, func(c *Config) { c.Identity = alice })
	if err := b.AddPeer(good.Self()); err != nil {
		t.Fatalf("peer certified by a trusted identity: %v", err)
	}
	for _, tc := range []struct {
		name string
		peer Peer
	}{
		{"no certificate", newNode(t, "shop", 3, false).Self()},
		{"untrusted identity", newNode(t, "shop", 4, false, func(c *Config) { c.Identity = mallory }).Self()},
		{"certificate for another namespace", newNode(t, "other", 5, false, func(c *Config) { c.Identity = alice }).Self()},
		{"certificate for another node", func() Peer { p := good.Self(); p.Node = 6; return p }()},
		{"certificate for another key", func() Peer { p := good.Self(); p.Public[0] ^= 1; return p }()},
	} {
		if err := b.AddPeer(tc.peer); !errors.Is(err, ErrUntrusted) {
			t.Errorf("%s: %v, want ErrUntrusted", tc.name, err)
		}
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "id.key")
	id, err := GenerateIdentity(path, "node-a")
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file mode %v", fi.Mode().Perm())
	}
	got, err := LoadIdentity(path)
	if err != nil || got.Name != "node-a" || !got.PublicKey().Equal(id.PublicKey()) {
		t.Fatalf("load: %v", err)
	}
	if _, err := GenerateIdentity(path, "again"); err == nil {
		t.Fatal("GenerateIdentity overwrote an existing file")
	}
	os.Chmod(path, 0o644)
	if _, err := LoadIdentity(path); !errors.Is(err, ErrKeyFile) || !strings.Contains(err.Error(), "0644") {
		t.Fatalf("identity readable by others: %v", err)
	}
	os.Chmod(path, 0o600)
	if os.Geteuid() == 0 {
		os.Chown(path, 65534, 65534)
		if _, err := LoadIdentity(path); !errors.Is(err, ErrKeyFile) || !strings.Contains(err.Error(), "uid 65534") {
			t.Fatalf("identity owned by another user: %v", err)
		}
	}
	bad := filepath.Join(dir, "bad.key")
	for _, content := range []string{"", "hello", identityTag + " n !!!", identityTag + " n AAAA", "other-tag n " + strings.Repeat("A", 44)} {
		os.WriteFile(bad, []byte(content), 0o600)
		if _, err := LoadIdentity(bad); !errors.Is(err, ErrKeyFile) {
			t.Errorf("identity %q: %v", content, err)
		}
	}
	if _, err := GenerateIdentity(filepath.Join(dir, "x"), "bad name"); !errors.Is(err, ErrKeyFile) {
		t.Errorf("name with a space: %v", err)
	}

	for _, tc := range []struct{ content, want string }{
		{"alice", "line 1"},
		{"# c\nalice notbase64", "line 2"},
		{"alice " + strings.Repeat("A", 40), "line 1"},
		{id.AuthorizedLine() + "\n" + id.AuthorizedLine(), "line 2: \"node-a\" listed twice"},
	} {
		if _, err := ParseTrustStore(strings.NewReader(tc.content)); !errors.Is(err, ErrKeyFile) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("trust store %q: %v, want %q", tc.content, err, tc.want)
		}
	}
	ts := filepath.Join(dir, "trusted")
	os.WriteFile(ts, []byte(id.AuthorizedLine()+"\n"), 0o644)
	if s, err := LoadTrustStore(ts); err != nil || s.Len() != 1 {
		t.Fatalf("trust store 0644: %v", err)
	}
	os.Chmod(ts, 0o666)
	if _, err := LoadTrustStore(ts); !errors.Is(err, ErrKeyFile) || !strings.Contains(err.Error(), "writable by others") {
		t.Fatalf("trust store writable by others: %v", err)
	}
}

func TestCloseWipes(t *testing.T) {
	a, b := newNode(t, "shop", 1, false), newNode(t, "shop", 2, false)
	introduce(t, a, b)
	frame := a.envelope(t, 2, wire.KindUser, "orders", &order{})
	p := a.peers[2]
	a.Close()
	var zero [KeySize]byte
	if a.keys.private != zero || p.sendKey != zero || p.recvKey != zero {
		t.Fatal("Close left key material")
	}
	if _, err := a.Seal(frame, 10, 2, 9); !errors.Is(err, ErrClosed) {
		t.Fatalf("Seal after Close: %v", err)
	}
	if _, _, err := a.Next(2); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	a.Close() // twice is harmless
}

// Adding the same peer from many goroutines at once keeps one peer state:
// a sequence number handed out right after an add is never handed out
// again because a concurrent add replaced the peer.
func TestConcurrentAddPeer(t *testing.T) {
	for range 50 {
		a, b := newNode(t, "race", 1, false), newNode(t, "race", 2, false)
		var wg sync.WaitGroup
		var mu sync.Mutex
		seqs := map[uint64]int{}
		start := make(chan struct{})
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if err := a.AddPeer(b.Self()); err != nil {
					t.Error(err)
					return
				}
				seq, _, err := a.Next(2)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seqs[seq]++
				mu.Unlock()
			}()
		}
		close(start)
		wg.Wait()
		for seq, n := range seqs {
			if n > 1 {
				t.Fatalf("sequence number %d handed out %d times", seq, n)
			}
		}
	}
}

// The nonce is the sequence number, so Seal takes numbers only in order,
// once each, and only those Next handed out; removing and re-adding a
// peer (same keys) carries on from its last number.
func TestSequenceNumbersNeverRepeat(t *testing.T) {
	a, b := newNode(t, "shop", 1, false), newNode(t, "shop", 2, false)
	introduce(t, a, b)
	frame := func() []byte { return []byte("header-and-payload") }
	seq1, _, _ := a.Next(2)
	seq2, _, _ := a.Next(2)
	for _, tc := range []struct {
		name string
		seq  uint64
		ok   bool
	}{
		{"not handed out yet", seq2 + 1, false},
		{"zero", 0, false},
		{"the second first", seq2, true},
		{"the first after the second", seq1, false},
		{"the second again", seq2, false},
	} {
		_, err := a.Seal(frame(), 6, 2, tc.seq)
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrSeqOrder) {
			t.Errorf("%s (seq %d): %v", tc.name, tc.seq, err)
		}
	}
	a.RemovePeer(2)
	introduce(t, a, b)
	if seq, _, _ := a.Next(2); seq <= seq2 {
		t.Fatalf("after re-adding the peer Next gives %d, want above %d", seq, seq2)
	}
	// A new key for the peer (a new epoch) keeps counting up as well.
	b2 := newNode(t, "shop", 2, false)
	if err := a.AddPeer(b2.Self()); err != nil {
		t.Fatal(err)
	}
	if seq, _, _ := a.Next(2); seq <= seq2+1 {
		t.Fatalf("after a re-key Next gives %d, want above %d", seq, seq2+1)
	}
}

func TestOpenOnly(t *testing.T) {
	a := newNode(t, "shop", 1, false)
	q := newNode(t, "shop", 1<<63|5, false, func(c *Config) { c.OpenOnly = true })
	introduce(t, a, q)
	if _, _, err := q.Next(1); !errors.Is(err, ErrOpenOnly) {
		t.Fatalf("Next: %v", err)
	}
	if _, err := q.Seal([]byte("hdr"), 3, 1, 1); !errors.Is(err, ErrOpenOnly) {
		t.Fatalf("Seal: %v", err)
	}
	frame := a.envelope(t, q.id, wire.KindUser, "jobs", &order{ID: 3})
	if _, v, err := q.open(frame); err != nil || v.(*order).ID != 3 {
		t.Fatalf("open: %v %v", v, err)
	}
}

// Sealing and opening allocate nothing (the frame has room for the tag).
func TestSealOpenDoNotAllocate(t *testing.T) {
	a, b := newNode(t, "shop", 1, false), newNode(t, "shop", 2, false)
	introduce(t, a, b)
	hdr := []byte("0123456789")
	frame := make([]byte, 0, 128)
	var sealed []byte
	allocs := testing.AllocsPerRun(100, func() {
		seq, _, _ := a.Next(2)
		frame = append(append(frame[:0], hdr...), "a 64-byte payload, more or less: 0123456789abcdef0123456789ab"...)
		var err error
		if sealed, err = a.Seal(frame, len(hdr), 2, seq); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Open(sealed, len(hdr), Meta{From: 1, To: 2, Epoch: 1, Seq: seq, Sealed: true}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per seal and open", allocs)
	}
}
