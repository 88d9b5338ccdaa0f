package mailbox

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/seal"
	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/registry"
	"github.com/shmactor/shmactor/shm"
)

type note struct {
	N    int
	Text string
}

var types = func() *wire.Registry {
	r := wire.NewRegistry()
	if err := wire.RegisterName[*note](r, "test.note"); err != nil {
		panic(err)
	}
	return r
}()

// node is one side of a test pair.
type node struct {
	id   uint64
	mb   *Mailboxes
	got  chan Message
	lost chan lost // messages Post could not deliver
}

type lost struct {
	m   *Outgoing
	err error
}

// pair makes nodes 1 and 2 in a fresh directory, each knowing the other;
// their pumps are not started.
func pair(t testing.TB, plaintext bool, ring shm.RingConfig, timeout time.Duration) (a, b *node) {
	t.Helper()
	dir, err := shm.OpenDir(testproc.TempDir(t), &shm.DirOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	nodes := map[uint64]*node{}
	sealers := map[uint64]*seal.Sealer{}
	for _, id := range []uint64{1, 2} {
		s, err := seal.New(seal.Config{Namespace: "t", Node: id, Plaintext: plaintext})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		sealers[id] = s
	}
	for id, s := range sealers {
		other := sealers[3-id]
		if err := s.AddPeer(other.Self()); err != nil {
			t.Fatal(err)
		}
		n := &node{id: id, got: make(chan Message, 1<<16), lost: make(chan lost, 1<<16)}
		n.mb, err = Open(Config{
			Dir: dir, Self: id, Sealer: s, Types: types, Ring: ring, Timeout: timeout,
			Inbox: func(node uint64) (string, error) {
				if nodes[node] == nil {
					return "", fmt.Errorf("no node %d", node)
				}
				return nodes[node].mb.InboxName(), nil
			},
			Undelivered: func(_ uint64, m *Outgoing, err error) { n.lost <- lost{m, err} },
			Handler: func(m *Message) {
				c := *m
				if v, ok := m.Value.(*note); ok {
					cp := *v
					c.Value = &cp
				}
				n.got <- c
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.mb.Close() })
		nodes[id] = n
	}
	return nodes[1], nodes[2]
}

func (n *node) expect(t testing.TB, count int) []Message {
	t.Helper()
	var out []Message
	for len(out) < count {
		select {
		case m := <-n.got:
			out = append(out, m)
		case <-time.After(10 * time.Second):
			t.Fatalf("node %d: %d of %d messages", n.id, len(out), count)
		}
	}
	select {
	case m := <-n.got:
		t.Fatalf("node %d: an extra message %+v", n.id, m)
	case <-time.After(20 * time.Millisecond):
	}
	return out
}

func TestSendReceive(t *testing.T) {
	for _, plaintext := range []bool{false, true} {
		t.Run(fmt.Sprintf("plaintext=%v", plaintext), func(t *testing.T) {
			a, b := pair(t, plaintext, shm.RingConfig{}, 0)
			b.mb.Start()
			const n = 2000
			var wg sync.WaitGroup
			for g := range 4 { // concurrent senders share frames
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range n / 4 {
						err := a.mb.Send(2, &Outgoing{
							Kind: wire.KindUser, Target: "t", SenderAddress: "addr", SenderID: fmt.Sprint(g),
							Corr: uint64(i), Meta: map[string]string{"k": "v"}, Value: &note{N: i, Text: "hi"},
						})
						if err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			last := map[string]int{}
			for _, m := range b.expect(t, n) {
				v, ok := m.Value.(*note)
				if !ok || m.Err != nil || m.From != 1 || m.Target != "t" || m.SenderAddress != "addr" || m.Meta["k"] != "v" || m.Type != "test.note" || int(m.Corr) != v.N || v.Text != "hi" {
					t.Fatalf("message %+v", m)
				}
				if prev, seen := last[m.SenderID]; seen && v.N != prev+1 || !seen && v.N != 0 {
					t.Fatalf("sender %s: %d after %d", m.SenderID, v.N, prev)
				}
				last[m.SenderID] = v.N
			}
			if sa, sb := a.mb.Stats(), b.mb.Stats(); sa.Sent != n || sb.Received != n || sb.Rejected != 0 || sb.Undecodable != 0 {
				t.Fatalf("stats: sender %+v, receiver %+v", sa, sb)
			}
		})
	}
}

// With the receiver's pump stopped its inbox fills; each policy then does
// what it says, counts what it refused, and nothing accepted is lost.
func TestPolicies(t *testing.T) {
	ring := shm.RingConfig{Cells: 16, CellSize: 256}
	for _, tc := range []struct {
		policy Policy
		want   error
	}{
		{FailFast, ErrFull},
		{DropNewest, ErrDropped},
		{Block, ErrFull},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			a, b := pair(t, false, ring, 30*time.Millisecond)
			ok := 0
			var err error
			for i := range 100 {
				start := time.Now()
				err = a.mb.SendPolicy(2, &Outgoing{Kind: wire.KindUser, Value: &note{N: i}}, tc.policy)
				if err != nil {
					if tc.policy == Block && time.Since(start) < 30*time.Millisecond {
						t.Errorf("Block failed after %v, before its deadline", time.Since(start))
					}
					break
				}
				ok++
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("after %d sends: %v, want %v", ok, err, tc.want)
			}
			if ok == 0 || ok > 16 {
				t.Fatalf("%d sends fitted in a 16-cell inbox", ok)
			}
			st := a.mb.Stats()
			if tc.policy == DropNewest && st.Dropped != 1 || tc.policy != DropNewest && st.Full != 1 || st.Sent != uint64(ok) {
				t.Fatalf("stats %+v after %d sent and one refused", st, ok)
			}
			b.mb.Start()
			for i, m := range b.expect(t, ok) {
				if m.Value.(*note).N != i {
					t.Fatalf("message %d is %+v", i, m.Value)
				}
			}
		})
	}
}

// Every sending call refuses what it cannot send with the documented
// sentinel, and fails with ErrClosed after Close.
func TestBadSends(t *testing.T) {
	a, _ := pair(t, false, shm.RingConfig{Cells: 64, CellSize: 256, MaxRecord: 1024}, 0)
	sends := []struct {
		name string
		send func(node uint64, m *Outgoing) error
	}{
		{"Post", a.mb.Post},
		{"PostPolicy", func(node uint64, m *Outgoing) error { return a.mb.PostPolicy(node, m, FailFast) }},
		{"Send", a.mb.Send},
		{"SendPolicy", func(node uint64, m *Outgoing) error { return a.mb.SendPolicy(node, m, FailFast) }},
	}
	var ute *wire.UnregisteredTypeError
	tests := []struct {
		name string
		node uint64
		m    *Outgoing
		ok   func(error) bool
	}{
		{"no kind", 2, &Outgoing{Value: &note{}}, func(err error) bool { return errors.Is(err, ErrBadKind) }},
		{"kind batch", 2, &Outgoing{Kind: wire.KindBatch, Value: &note{}}, func(err error) bool { return errors.Is(err, ErrBadKind) }},
		{"nil Outgoing", 2, nil, func(err error) bool { return errors.Is(err, ErrNilMessage) }},
		{"nil value", 2, &Outgoing{Kind: wire.KindUser}, func(err error) bool { return errors.Is(err, ErrNilMessage) }},
		{"target too long", 2, &Outgoing{Kind: wire.KindUser, Target: string(make([]byte, wire.MaxString+1)), Value: &note{}}, func(err error) bool { return errors.Is(err, ErrTooLarge) }},
		{"unregistered type", 2, &Outgoing{Kind: wire.KindUser, Value: struct{ X int }{1}}, func(err error) bool { return errors.As(err, &ute) }},
		{"unknown node", 9, &Outgoing{Kind: wire.KindUser, Value: &note{}}, func(err error) bool { return err != nil }},
	}
	for _, s := range sends {
		for _, tt := range tests {
			t.Run(s.name+"/"+tt.name, func(t *testing.T) {
				if err := s.send(tt.node, tt.m); !tt.ok(err) {
					t.Fatalf("err = %v", err)
				}
			})
		}
	}
	t.Run("bad policy", func(t *testing.T) {
		m := &Outgoing{Kind: wire.KindUser, Value: &note{}}
		if err := a.mb.PostPolicy(2, m, Policy(7)); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("PostPolicy: %v, want ErrInvalidArgument", err)
		}
		if err := a.mb.SendPolicy(2, m, Policy(-1)); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("SendPolicy: %v, want ErrInvalidArgument", err)
		}
	})
	t.Run("Consume without handler", func(t *testing.T) {
		if _, err := a.mb.Consume("q.none", nil, a.mb.cfg.Sealer, nil, nil); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("err = %v, want ErrInvalidArgument", err)
		}
	})
	t.Run("Open without handler", func(t *testing.T) {
		cfg := a.mb.cfg
		cfg.Handler = nil
		if _, err := Open(cfg); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("err = %v, want ErrInvalidArgument", err)
		}
		cfg = a.mb.cfg
		cfg.Policy = Policy(3)
		if _, err := Open(cfg); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("bad policy: %v, want ErrInvalidArgument", err)
		}
	})
	if st := a.mb.Stats(); st.Sent != 0 {
		t.Errorf("stats %+v: nothing should have been sent", st)
	}
	a.mb.Gone(2)
	if err := a.mb.Send(2, &Outgoing{Kind: wire.KindUser, Value: &note{}}); !errors.Is(err, ErrNodeGone) {
		t.Errorf("send to a gone node: %v, want ErrNodeGone", err)
	}
	if err := a.mb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.mb.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for _, s := range sends {
		t.Run("closed/"+s.name, func(t *testing.T) {
			if err := s.send(2, &Outgoing{Kind: wire.KindUser, Value: &note{}}); !errors.Is(err, ErrClosed) {
				t.Errorf("err = %v, want ErrClosed", err)
			}
		})
	}
	t.Run("closed/Consume", func(t *testing.T) {
		if _, err := a.mb.Consume("q.none", nil, a.mb.cfg.Sealer, nil, func(*Message) {}); !errors.Is(err, ErrClosed) {
			t.Errorf("err = %v, want ErrClosed", err)
		}
	})
}

// A message that arrives without a value (a peer's bug, or a forged
// envelope) reaches the handler as an error, never as a nil Value, and
// counts as undecodable.
func TestNilMessageReceived(t *testing.T) {
	a, b := pair(t, false, shm.RingConfig{}, 0)
	b.mb.Start()
	if err := b.mb.inbox.TryPush(validFrame(t, a, 2, nil)); err != nil { // two nil messages
		t.Fatal(err)
	}
	for _, m := range b.expect(t, 2) {
		if m.Value != nil || !errors.Is(m.Err, ErrNilMessage) {
			t.Fatalf("got value %v, err %v; want ErrNilMessage", m.Value, m.Err)
		}
	}
	if st := b.mb.Stats(); st.Undecodable != 2 || st.Received != 2 {
		t.Fatalf("stats %+v", st)
	}
	post(t, a, 2, 1, Block)
	if m := b.expect(t, 1)[0]; m.Err != nil || m.Value.(*note).N != 1 {
		t.Fatalf("after the nil messages: %+v", m)
	}
}

// Messages sent Alone take a frame each, however many senders queue up
// together.
func TestAloneFrames(t *testing.T) {
	a, b := pair(t, false, shm.RingConfig{}, 0)
	const senders, each = 8, 100
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := a.mb.Send(2, &Outgoing{Kind: wire.KindUser, Value: &note{N: i}, Alone: true}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if st := b.mb.Stats(); st.Inbox.Pushed != senders*each {
		t.Fatalf("%d frames for %d messages sent alone", st.Inbox.Pushed, senders*each)
	}
	b.mb.Start()
	b.expect(t, senders*each)
}

// Frames that are not what a sender makes are counted and dropped; the
// pump keeps going.
func TestRejectedFrames(t *testing.T) {
	a, b := pair(t, false, shm.RingConfig{}, 0)
	ring, err := shm.OpenRing(a.mb.cfg.Dir, b.mb.InboxName())
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	good := validFrame(t, a, 2, &note{N: 7})
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)-1] ^= 1
	for _, f := range [][]byte{{0x01}, []byte("not a frame at all"), flipped} {
		if err := ring.TryPush(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.mb.Send(2, &Outgoing{Kind: wire.KindUser, Value: &note{N: 8}}); err != nil {
		t.Fatal(err)
	}
	b.mb.Start()
	if got := b.expect(t, 1); got[0].Value.(*note).N != 8 {
		t.Fatalf("got %+v", got[0])
	}
	if st := b.mb.Stats(); st.Rejected != 3 {
		t.Fatalf("stats %+v, want 3 rejected", st)
	}
}

// validFrame builds the frame a would push for v to node to.
func validFrame(t testing.TB, a *node, to uint64, v any) []byte {
	t.Helper()
	e := a.mb.pool.Get().(*encoder)
	defer a.mb.pool.Put(e)
	env, err := a.mb.envelope(e, &Outgoing{Kind: wire.KindUser, Target: "x", Value: v})
	if err != nil {
		t.Fatal(err)
	}
	s := a.mb.cfg.Sealer
	seq, epoch, err := s.Next(to)
	if err != nil {
		t.Fatal(err)
	}
	oh := wire.Header{Kind: wire.KindBatch, From: a.id, To: to, Seq: seq, Epoch: epoch}
	if !s.Plaintext() {
		oh.Flags = wire.FlagSealed
	}
	b := wire.AppendHeader(nil, &oh)
	hl := len(b)
	b = append(b, env...)
	b = append(b, env...) // two messages
	out, err := s.Seal(b, hl, to, seq)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzFrame feeds arbitrary frames to a plaintext pump's frame handler:
// it must not panic, and a frame either delivers messages or is counted
// as rejected.
func FuzzFrame(f *testing.F) {
	a, b := pair(f, true, shm.RingConfig{}, 0)
	f.Add(validFrame(f, a, 2, &note{N: 1, Text: "seed"}))
	f.Add(validFrame(f, a, 2, nil))
	f.Add([]byte{})
	f.Add([]byte{0x95, 0x05})
	c := b.mb.in
	f.Fuzz(func(t *testing.T, frame []byte) {
		before := b.mb.Stats()
		n := 0
		c.handler = func(m *Message) {
			n++
			if m.Value == nil && m.Err == nil {
				t.Fatalf("message with neither value nor error: %+v", m)
			}
		}
		c.handle(frame)
		after := b.mb.Stats()
		if n == 0 && after.Rejected == before.Rejected && !emptyFrame(c, frame) {
			t.Fatalf("frame %x neither delivered nor rejected", frame)
		}
	})
}

// emptyFrame reports whether frame is a well-formed frame with no
// messages.
func emptyFrame(c *Consumer, frame []byte) bool {
	h, hl, err := c.dec.Header(frame)
	return err == nil && h.Kind == wire.KindBatch && len(frame) == hl
}

func post(t testing.TB, n *node, to uint64, i int, policy Policy) {
	t.Helper()
	if err := n.mb.PostPolicy(to, &Outgoing{Kind: wire.KindUser, Value: &note{N: i}}, policy); err != nil {
		t.Fatalf("post %d: %v", i, err)
	}
}

func waitStats(t testing.TB, n *node, what string, cond func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond(n.mb.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("node %d: no %s; stats %+v", n.id, what, n.mb.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// Messages posted while the writer waits for room share frames: a
// thousand messages from one goroutine take a handful of frames, and
// arrive in order.
func TestPostBatches(t *testing.T) {
	a, b := pair(t, false, shm.RingConfig{Cells: 16, CellSize: 256}, time.Minute)
	const n = 1000
	for i := range n {
		post(t, a, 2, i, Block)
	}
	waitStats(t, b, "full inbox", func(st Stats) bool { return st.Inbox.Len > 0 })
	b.mb.Start()
	for i, m := range b.expect(t, n) {
		if m.Value.(*note).N != i {
			t.Fatalf("message %d is %+v", i, m.Value)
		}
	}
	if st := b.mb.Stats(); st.Inbox.Pushed > n/10 {
		t.Fatalf("%d frames for %d messages", st.Inbox.Pushed, n)
	}
	if st := a.mb.Stats(); st.Sent != n || st.Queued != n {
		t.Fatalf("sender stats %+v", st)
	}
}

// What Post cannot deliver reaches Undelivered with the reason, and is
// counted: nothing is lost silently.
func TestPostUndelivered(t *testing.T) {
	t.Run("fail-fast", func(t *testing.T) {
		a, b := pair(t, false, shm.RingConfig{Cells: 16, CellSize: 256}, time.Minute)
		const n = 200
		// A message pushed from the caller's goroutine (nothing queued
		// before it) learns of the full inbox at once; one queued behind
		// others learns of it on the writer's, through Undelivered.
		atOnce := 0
		for i := range n {
			err := a.mb.PostPolicy(2, &Outgoing{Kind: wire.KindUser, Value: &note{N: i}}, FailFast)
			switch {
			case errors.Is(err, ErrFull):
				atOnce++
			case err != nil:
				t.Fatalf("post %d: %v", i, err)
			}
			time.Sleep(50 * time.Microsecond) // let frames go one by one
		}
		waitStats(t, a, "outcome for every message", func(st Stats) bool { return st.Sent+st.Full == n })
		st := a.mb.Stats()
		if st.Full == 0 {
			t.Fatalf("a 16-cell inbox took %d messages with FailFast", st.Sent)
		}
		for range int(st.Full) - atOnce {
			if l := <-a.lost; !errors.Is(l.err, ErrFull) || l.m.Value.(*note) == nil {
				t.Fatalf("undelivered %+v", l)
			}
		}
		b.mb.Start()
		b.expect(t, int(st.Sent))
	})
	t.Run("node gone", func(t *testing.T) {
		a, _ := pair(t, false, shm.RingConfig{Cells: 16, CellSize: 256}, time.Minute)
		const n = 300
		for i := range n {
			post(t, a, 2, i, Block)
		}
		waitStats(t, a, "a writer blocked on the full inbox", func(st Stats) bool { return st.Sent > 0 })
		a.mb.Gone(2)
		waitStats(t, a, "outcome for every message", func(st Stats) bool { return st.Sent+st.Failed == n })
		st := a.mb.Stats()
		seen := map[int]bool{}
		for range st.Failed {
			l := <-a.lost
			if !errors.Is(l.err, ErrNodeGone) {
				t.Fatalf("undelivered with %v, want ErrNodeGone", l.err)
			}
			seen[l.m.Value.(*note).N] = true
		}
		if len(seen) != int(st.Failed) || st.Failed < n/2 {
			t.Fatalf("%d distinct undelivered of %d failed (sent %d)", len(seen), st.Failed, st.Sent)
		}
		if err := a.mb.Post(2, &Outgoing{Kind: wire.KindUser, Value: &note{}}); !errors.Is(err, ErrNodeGone) {
			t.Fatalf("post after Gone: %v", err)
		}
	})
}

// Close sends what was posted before it.
func TestCloseDrains(t *testing.T) {
	a, b := pair(t, true, shm.RingConfig{}, time.Minute)
	const n = 5000
	for i := range n {
		post(t, a, 2, i, Block)
	}
	if err := a.mb.Close(); err != nil {
		t.Fatal(err)
	}
	b.mb.Start()
	for i, m := range b.expect(t, n) {
		if m.Value.(*note).N != i {
			t.Fatalf("message %d is %+v", i, m.Value)
		}
	}
}

// A node remembers only the newest gone nodes; a send to an older one is
// still ErrNodeGone, from the registry's answer that it is not there.
func TestGoneNodesBounded(t *testing.T) {
	a, _ := pair(t, false, shm.RingConfig{}, time.Second)
	a.mb.cfg.Inbox = func(node uint64) (string, error) {
		return "", fmt.Errorf("node %d: %w", node, registry.ErrNotFound)
	}
	for n := uint64(100); n < 100+maxDead+500; n++ {
		a.mb.Gone(n)
	}
	a.mb.mu.Lock()
	remembered := len(a.mb.dead)
	a.mb.mu.Unlock()
	if remembered > maxDead {
		t.Fatalf("%d gone nodes remembered, at most %d", remembered, maxDead)
	}
	for _, n := range []uint64{100, 100 + maxDead + 499} { // forgotten, remembered
		if err := a.mb.Post(n, &Outgoing{Kind: wire.KindUser, Value: &note{N: 1}}); !errors.Is(err, ErrNodeGone) {
			t.Fatalf("post to gone node %d: %v, want ErrNodeGone", n, err)
		}
	}
}
