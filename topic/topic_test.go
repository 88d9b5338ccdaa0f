package topic

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/testproc"
)

func TestPublishBetweenNodes(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plaintext=%v", plain), func(t *testing.T) {
			var opts []actor.Option
			if plain {
				opts = append(opts, actor.WithPlaintext())
			}
			root := testproc.TempDir(t)
			a := joinT(t, root, "pub", opts...)
			b := joinT(t, root, "pub", opts...)
			exact, star, tail, local := newCollector(16), newCollector(16), newCollector(16), newCollector(16)
			for _, s := range []struct {
				sys     *actor.System
				pattern string
				c       *collector
			}{{b, "orders.eu.created", exact}, {b, "orders.*.created", star}, {b, "orders.>", tail}, {a, "orders.>", local}} {
				if _, err := SubscribeFunc(s.sys, s.pattern, s.c.fn); err != nil {
					t.Fatal(err)
				}
			}
			msg := &Note{Pub: 1, Seq: 7, Text: "tea"}
			if err := Publish(a, "orders.eu.created", msg); err != nil {
				t.Fatal(err)
			}
			for _, c := range []*collector{exact, star, tail} {
				d := c.next(t)
				if n, ok := d.msg.(*Note); d.subject != "orders.eu.created" || !ok || *n != *msg {
					t.Fatalf("got %q %#v", d.subject, d.msg)
				}
			}
			if d := local.next(t); d.msg != msg {
				t.Fatalf("a subscriber in the publishing process got %p, want the message itself %p", d.msg, msg)
			}
			if err := Publish(a, "orders.us.deleted", msg); err != nil {
				t.Fatal(err)
			}
			if d := tail.next(t); d.subject != "orders.us.deleted" {
				t.Fatalf("'>' subscriber got %q", d.subject)
			}
			local.next(t)
			exact.none(t, 50*time.Millisecond)
			star.none(t, 0)
			st, _ := StatsOf(a)
			if st.Published != 2 || st.Sent != 2 {
				t.Fatalf("publisher stats %+v: want 2 published, 2 envelopes (one per publication for node b's three subscriptions)", st)
			}
		})
	}
}

func TestSubscribeActor(t *testing.T) {
	root := testproc.TempDir(t)
	a := joinT(t, root, "act")
	b := joinT(t, root, "act")
	got := make(chan string, 4)
	pid := b.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if n, ok := ctx.Message().(*Note); ok {
			got <- Subject(ctx) + " " + n.Text
		}
	}))
	sub, err := Subscribe(b, "greetings.*", pid)
	if err != nil {
		t.Fatal(err)
	}
	if sub.Pattern() != "greetings.*" || sub.Group() != "" {
		t.Fatalf("pattern %q group %q", sub.Pattern(), sub.Group())
	}
	if err := Publish(a, "greetings.en", &Note{Text: "hello"}); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "greetings.en hello" {
			t.Fatalf("actor got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("actor got nothing")
	}
	if st := sub.Stats(); st.Delivered != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestUnsubscribe(t *testing.T) {
	root := testproc.TempDir(t)
	a := joinT(t, root, "unsub")
	b := joinT(t, root, "unsub")
	c1, c2 := newCollector(16), newCollector(16)
	s1, err := SubscribeFunc(b, "x.*", c1.fn)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := SubscribeFunc(b, "x.*", c2.fn)
	if err != nil {
		t.Fatal(err)
	}
	Publish(a, "x.1", &Note{Seq: 1})
	c1.next(t)
	c2.next(t)
	if err := s1.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if err := s1.Unsubscribe(); !errors.Is(err, ErrUnsubscribed) {
		t.Fatalf("second Unsubscribe: %v, want ErrUnsubscribed", err)
	}
	Publish(a, "x.2", &Note{Seq: 2})
	if d := c2.next(t); d.subject != "x.2" {
		t.Fatalf("remaining subscriber got %q", d.subject)
	}
	c1.none(t, 50*time.Millisecond)
	// The node still holds the pattern for s2; after s2 goes, node b is
	// out of the routing and publishing to it costs nothing.
	name, _ := regName("x.*", "")
	if h := a.Registry().Holders(name); len(h) != 1 {
		t.Fatalf("holders of x.* before the last unsubscribe: %v", h)
	}
	s2.Unsubscribe()
	b.Registry().Sync()
	a.Registry().Sync()
	if h := a.Registry().Holders(name); len(h) != 0 {
		t.Fatalf("holders of x.* after the last unsubscribe: %v", h)
	}
	before, _ := StatsOf(a)
	Publish(a, "x.3", &Note{Seq: 3})
	after, _ := StatsOf(a)
	if after.Sent != before.Sent {
		t.Fatalf("a publication without subscribers was sent: %+v -> %+v", before, after)
	}
	c2.none(t, 50*time.Millisecond)
}

func TestSlowConsumerDropNewest(t *testing.T) {
	root := testproc.TempDir(t)
	a := joinT(t, root, "slow")
	b := joinT(t, root, "slow")
	events := make(chan *SlowConsumer, 100)
	b.EventStream.Subscribe(func(ev any) {
		if e, ok := ev.(*SlowConsumer); ok {
			events <- e
		}
	})
	release := make(chan struct{})
	var got atomic.Int64
	sub, err := SubscribeFunc(b, "busy", func(string, any) {
		<-release
		got.Add(1)
	}, WithPending(4), WithSlowConsumer(DropNewest, 0))
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		if err := Publish(a, "busy", &Note{Seq: i}); err != nil {
			t.Fatal(err)
		}
	}
	// The first publication is in the function, 3 wait (4 pending); the
	// rest drop.
	deadline := time.Now().Add(5 * time.Second)
	for sub.Stats().Dropped+uint64(sub.Stats().Pending) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st := sub.Stats()
	if st.Pending != 4 || st.Dropped != n-4 {
		t.Fatalf("stats %+v: want 4 pending, %d dropped", st, n-4)
	}
	var reported uint64
	var last *SlowConsumer
	for reported < st.Dropped {
		select {
		case e := <-events:
			reported += e.Dropped
			last = e
		case <-time.After(2 * time.Second):
			t.Fatalf("SlowConsumer events report %d drops, want %d", reported, st.Dropped)
		}
	}
	if last.Pattern != "busy" || last.Policy != DropNewest || last.Total != st.Dropped || last.Node != b.NodeID() {
		t.Fatalf("event %+v", last)
	}
	if !strings.Contains(last.String(), "slow consumer") {
		t.Fatalf("event text %q", last)
	}
	close(release)
	for got.Load() < 4 {
		time.Sleep(time.Millisecond)
	}
	ns, _ := StatsOf(b)
	if ns.Dropped != st.Dropped {
		t.Fatalf("node stats %+v", ns)
	}
}

func TestSlowConsumerBlock(t *testing.T) {
	root := testproc.TempDir(t)
	a := joinT(t, root, "block")
	release := make(chan struct{})
	sub, err := SubscribeFunc(a, "busy", func(string, any) { <-release }, WithPending(2), WithSlowConsumer(Block, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	Publish(a, "busy", &Note{Seq: 0}) // in the function
	Publish(a, "busy", &Note{Seq: 1}) // waits: 2 pending
	done := make(chan time.Duration)
	go func() {
		start := time.Now()
		Publish(a, "busy", &Note{Seq: 2}) // blocks, then drops
		done <- time.Since(start)
	}()
	select {
	case d := <-done:
		if d < 90*time.Millisecond {
			t.Fatalf("publisher waited %v, want the 100ms deadline", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("publisher blocked past its deadline")
	}
	if st := sub.Stats(); st.Dropped != 1 || st.Pending != 2 {
		t.Fatalf("stats %+v", st)
	}
	// With room made in time, the blocked publication gets in.
	go func() {
		time.Sleep(20 * time.Millisecond)
		release <- struct{}{}
	}()
	Publish(a, "busy", &Note{Seq: 3})
	if st := sub.Stats(); st.Dropped != 1 {
		t.Fatalf("stats after room was made %+v", st)
	}
	close(release)
}

func TestQueueGroupInProcess(t *testing.T) {
	root := testproc.TempDir(t)
	a := joinT(t, root, "group")
	b := joinT(t, root, "group")
	c := joinT(t, root, "group")
	var mu sync.Mutex
	seen := map[int]string{}
	dups := 0
	member := func(who string) func(string, any) {
		return func(_ string, m any) {
			mu.Lock()
			defer mu.Unlock()
			n := m.(*Note)
			if _, ok := seen[n.Seq]; ok {
				dups++
			}
			seen[n.Seq] = who
		}
	}
	for _, m := range []struct {
		sys *actor.System
		who string
	}{{b, "b1"}, {b, "b2"}, {c, "c1"}} {
		s, err := QueueSubscribeFunc(m.sys, "jobs.*", "workers", member(m.who))
		if err != nil {
			t.Fatal(err)
		}
		if s.Group() != "workers" {
			t.Fatal(s.Group())
		}
	}
	plain := newCollector(1000)
	if _, err := SubscribeFunc(c, "jobs.>", plain.fn); err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := range n {
		if err := Publish(a, "jobs.x", &Note{Seq: i}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if d := plain.next(t); d.msg.(*Note).Seq != i {
			t.Fatalf("plain subscriber got %d, want %d", d.msg.(*Note).Seq, i)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		k := len(seen)
		mu.Unlock()
		if k == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n || dups != 0 {
		t.Fatalf("group handled %d of %d, %d twice", len(seen), n, dups)
	}
}

func TestBadInput(t *testing.T) {
	root := testproc.TempDir(t)
	a := joinT(t, root, "bad")
	b := joinT(t, root, "bad")
	fn := func(string, any) {}
	pid := a.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"bad pattern", func() error { _, err := SubscribeFunc(a, "a..b", fn); return err }, ErrInvalidSubject},
		{"'>' not last", func() error { _, err := SubscribeFunc(a, "a.>.b", fn); return err }, ErrInvalidSubject},
		{"bad subject", func() error { return Publish(a, "a.*", &Note{}) }, ErrInvalidSubject},
		{"empty subject", func() error { return Publish(a, "", &Note{}) }, ErrInvalidSubject},
		{"bad group", func() error { _, err := QueueSubscribeFunc(a, "a", "my group", fn); return err }, ErrInvalidGroup},
		{"bad group, actor", func() error { _, err := QueueSubscribe(a, "a", "", pid); return err }, ErrInvalidGroup},
		{"bad pattern, queue", func() error { _, err := QueueSubscribe(a, "a.", "g", pid); return err }, ErrInvalidSubject},
		{"nil function", func() error { _, err := SubscribeFunc(a, "a", nil); return err }, ErrInvalidArgument},
		{"nil queue function", func() error { _, err := QueueSubscribeFunc(a, "a", "g", nil); return err }, ErrInvalidArgument},
		{"nil PID", func() error { _, err := Subscribe(a, "a", nil); return err }, ErrInvalidArgument},
		{"nil queue PID", func() error { _, err := QueueSubscribe(a, "a", "g", nil); return err }, ErrInvalidArgument},
		{"nil option", func() error { _, err := SubscribeFunc(a, "a", fn, nil); return err }, ErrInvalidOption},
		{"nil queue option", func() error { _, err := QueueSubscribe(a, "a", "g", pid, nil); return err }, ErrInvalidOption},
		{"pending 0", func() error { _, err := Subscribe(a, "a", pid, WithPending(0)); return err }, ErrInvalidOption},
		{"bad policy", func() error { _, err := SubscribeFunc(a, "a", fn, WithSlowConsumer(Policy(9), 0)); return err }, ErrInvalidOption},
		{"drop with timeout", func() error {
			_, err := SubscribeFunc(a, "a", fn, WithSlowConsumer(DropNewest, time.Second))
			return err
		}, ErrInvalidOption},
		{"confirm 0", func() error { _, err := SubscribeFunc(a, "a", fn, WithConfirmTimeout(0)); return err }, ErrInvalidOption},
		{"nil system", func() error { return Publish(nil, "a", &Note{}) }, ErrInvalidArgument},
		{"nil system, subscribe", func() error { _, err := SubscribeFunc(nil, "a", fn); return err }, ErrInvalidArgument},
		{"nil system, stats", func() error { _, err := StatsOf(nil); return err }, ErrInvalidArgument},
		{"nil message", func() error { return Publish(a, "a", nil) }, ErrInvalidArgument},
		{"unencodable", func() error {
			if _, err := SubscribeFunc(b, "chan", fn); err != nil {
				return err
			}
			return Publish(a, "chan", cyclic())
		}, actor.ErrEncode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			checkMessage(t, err)
		})
	}
	t.Run("unregistered type to another process", func(t *testing.T) {
		if _, err := SubscribeFunc(b, "u", fn); err != nil {
			t.Fatal(err)
		}
		err := Publish(a, "u", &Unregistered{X: 1})
		if !errors.Is(err, actor.ErrUnregistered) || !strings.Contains(err.Error(), `"u"`) {
			t.Fatalf("err = %v, want ErrUnregistered naming the subject", err)
		}
	})
	t.Run("unregistered type within the process", func(t *testing.T) {
		c := newCollector(1)
		if _, err := SubscribeFunc(a, "local-only", c.fn); err != nil {
			t.Fatal(err)
		}
		if err := Publish(a, "local-only", &Unregistered{X: 2}); err != nil {
			t.Fatalf("in-process publication needs no registration: %v", err)
		}
		if d := c.next(t); d.msg.(*Unregistered).X != 2 {
			t.Fatal(d)
		}
	})
	t.Run("larger than the inbox", func(t *testing.T) {
		c := newCollector(1)
		if _, err := SubscribeFunc(b, "big", c.fn); err != nil {
			t.Fatal(err)
		}
		text := strings.Repeat("x", 2<<20)
		if err := Publish(a, "big", &Note{Text: text}); err != nil {
			t.Fatalf("a 2 MiB publication: %v", err)
		}
		if d := c.next(t); d.msg.(*Note).Text != text {
			t.Fatal("the 2 MiB publication arrived changed")
		}
	})
	t.Run("panicking subscriber", func(t *testing.T) {
		var calls atomic.Int32
		sub, err := SubscribeFunc(b, "boom", func(string, any) {
			if calls.Add(1) == 1 {
				panic("first call fails")
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		Publish(a, "boom", &Note{})
		Publish(a, "boom", &Note{})
		deadline := time.Now().Add(5 * time.Second)
		for sub.Stats().Delivered < 1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if st := sub.Stats(); st.Panics != 1 || st.Delivered != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("closed system", func(t *testing.T) {
		c := joinT(t, root, "bad")
		sub, err := SubscribeFunc(c, "bye", fn)
		if err != nil {
			t.Fatal(err)
		}
		cpid := c.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
		c.Close()
		calls := []struct {
			name string
			do   func() error
		}{
			{"Publish", func() error { return Publish(c, "bye", &Note{}) }},
			{"Subscribe", func() error { _, err := Subscribe(c, "bye", cpid); return err }},
			{"SubscribeFunc", func() error { _, err := SubscribeFunc(c, "bye", fn); return err }},
			{"QueueSubscribe", func() error { _, err := QueueSubscribe(c, "bye", "g", cpid); return err }},
			{"QueueSubscribeFunc", func() error { _, err := QueueSubscribeFunc(c, "bye", "g", fn); return err }},
			{"StatsOf", func() error { _, err := StatsOf(c); return err }},
			{"Unsubscribe", sub.Unsubscribe},
		}
		for _, call := range calls {
			t.Run(call.name, func(t *testing.T) {
				err := call.do()
				if !errors.Is(err, ErrClosed) || !errors.Is(err, actor.ErrClosed) {
					t.Fatalf("err = %v, want ErrClosed (and actor.ErrClosed)", err)
				}
				checkMessage(t, err)
			})
		}
		// Close ended the subscription.
		if err := sub.Unsubscribe(); !errors.Is(err, ErrUnsubscribed) {
			t.Fatalf("Unsubscribe after Close: %v, want ErrUnsubscribed too", err)
		}
	})
}

// Chain registers, but a cyclic Chain nests without end and cannot be
// encoded.
type Chain struct{ Next *Chain }

func init() { actor.RegisterMessage[*Chain]() }

func cyclic() *Chain {
	c := &Chain{}
	c.Next = c
	return c
}

// checkMessage fails t if err's message repeats a package prefix.
func checkMessage(t *testing.T, err error) {
	t.Helper()
	for _, p := range []string{"topic: ", "shmactor: ", "registry: ", "mailbox: ", "shm: ", "wire: "} {
		if strings.Count(err.Error(), p) > 1 {
			t.Errorf("%q repeats %q", err, p)
		}
	}
}
