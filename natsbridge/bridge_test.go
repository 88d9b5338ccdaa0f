package natsbridge

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/topic"
)

// Order is a registered message type that crosses machines.
type Order struct {
	ID   int
	Note string
}

func init() {
	if err := actor.RegisterMessage[*Order](); err != nil {
		panic(err)
	}
}

var helpers = map[string]func() error{"machine": helperMachine}

func TestMain(m *testing.M) { testproc.Main(m, helpers) }

const (
	envRoot = "BRIDGE_ROOT"
	envURL  = "BRIDGE_NATS"
)

// counter counts what a subscription gets, and checks each payload.
type counter struct {
	n   atomic.Int64
	bad atomic.Int64
}

func (c *counter) take(_ string, m any) {
	if o, ok := m.(*Order); ok && o.Note == "order "+strconv.Itoa(o.ID) {
		c.n.Add(1)
		return
	}
	if s, ok := m.([]byte); ok && strings.HasPrefix(string(s), "raw ") {
		c.n.Add(1)
		return
	}
	c.bad.Add(1)
}

// machine is a namespace with a bridge, a plain subscriber of
// "orders.>" and, after "member", a member of queue group "workers" of
// "jobs.*".
type machine struct {
	sys          *actor.System
	b            *Bridge
	plain, group counter
}

func startMachine(root, url string) (*machine, error) {
	sys, err := actor.Join("shop", actor.WithRoot(root))
	if err != nil {
		return nil, err
	}
	m := &machine{sys: sys}
	if m.b, err = New(sys, url); err != nil {
		sys.Close()
		return nil, err
	}
	for _, err := range []error{m.b.Subject("orders.>"), m.b.Subject("jobs.*"), m.b.QueueGroup("jobs.*", "workers")} {
		if err != nil {
			m.close()
			return nil, err
		}
	}
	if _, err := topic.SubscribeFunc(sys, "orders.>", m.plain.take); err != nil {
		m.close()
		return nil, err
	}
	return m, nil
}

func (m *machine) member() error {
	_, err := topic.QueueSubscribeFunc(m.sys, "jobs.*", "workers", m.group.take)
	return err
}

func (m *machine) publish(subject string, n int) error {
	for i := range n {
		if err := topic.Publish(m.sys, subject, &Order{ID: i, Note: "order " + strconv.Itoa(i)}); err != nil {
			return err
		}
	}
	return nil
}

func (m *machine) close() {
	m.b.Close()
	m.sys.Close()
}

// helperMachine is machine B: it answers "member", "pub <subject> <n>"
// and "count" (with "count <plain> <group> <bad>").
func helperMachine() error {
	m, err := startMachine(os.Getenv(envRoot), os.Getenv(envURL))
	if err != nil {
		return err
	}
	defer m.close()
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 1 && f[0] == "member":
			if err := m.member(); err != nil {
				return err
			}
			// The member is in place once the registry shows it.
			m.sys.Registry().Sync()
			fmt.Println("member")
		case len(f) == 3 && f[0] == "pub":
			n, _ := strconv.Atoi(f[2])
			if err := m.publish(f[1], n); err != nil {
				return err
			}
			fmt.Println("published")
		case len(f) == 1 && f[0] == "count":
			fmt.Println("count", m.plain.n.Load(), m.group.n.Load(), m.plain.bad.Load()+m.group.bad.Load())
		}
	}
	return nil
}

func natsServer(t *testing.T) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s.ClientURL()
}

// counts asks machine B for its counts.
func counts(t *testing.T, b *testproc.Proc) (plain, group, bad int64) {
	t.Helper()
	if err := b.Send("count"); err != nil {
		t.Fatal(err)
	}
	l := b.Expect(t, "count", 10*time.Second)
	if _, err := fmt.Sscan(l, &plain, &group, &bad); err != nil {
		t.Fatalf("counts %q: %v", l, err)
	}
	return
}

// eventually waits until cond holds, and then a moment more to see that
// nothing else arrives.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two machines (namespaces under separate roots, in separate processes)
// bridged through one NATS server, and a plain NATS client: every
// publication reaches every subscriber once, with its Go value, and no
// loop sends it again; a queue group spanning both machines gets each
// publication once, in the publisher's namespace when it has a member.
func TestTwoMachinesThroughNATS(t *testing.T) {
	url := natsServer(t)
	a, err := startMachine(testproc.TempDir(t), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	b := testproc.Start(t, "machine", envRoot+"="+testproc.TempDir(t), envURL+"="+url)
	b.Expect(t, "ready", time.Minute)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var fromNATS atomic.Int64
	if _, err := nc.Subscribe("orders.>", func(*nats.Msg) { fromNATS.Add(1) }); err != nil {
		t.Fatal(err)
	}
	nc.Flush()

	const n = 200
	// A publishes: A's subscriber, B's and the NATS client's each get n.
	if err := a.publish("orders.new", n); err != nil {
		t.Fatal(err)
	}
	eventually(t, "A's publications everywhere", func() bool {
		p, _, _ := counts(t, b)
		return a.plain.n.Load() == n && p == n && fromNATS.Load() == n
	})
	// B publishes.
	if err := b.Send(fmt.Sprintf("pub orders.paid %d", n)); err != nil {
		t.Fatal(err)
	}
	b.Expect(t, "published", 10*time.Second)
	eventually(t, "B's publications everywhere", func() bool {
		p, _, _ := counts(t, b)
		return a.plain.n.Load() == 2*n && p == 2*n && fromNATS.Load() == 2*n
	})
	// A NATS client publishes raw bytes.
	for i := range n {
		if err := nc.Publish("orders.raw", []byte(fmt.Sprintf("raw %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the NATS client's publications in both namespaces", func() bool {
		p, _, _ := counts(t, b)
		return a.plain.n.Load() == 3*n && p == 3*n
	})
	time.Sleep(300 * time.Millisecond) // a loop would show by now
	if p, _, bad := counts(t, b); a.plain.n.Load() != 3*n || p != 3*n || fromNATS.Load() != 3*n || bad != 0 || a.plain.bad.Load() != 0 {
		t.Fatalf("after settling: A %d, B %d, NATS %d (want %d, %d, %d), bad %d+%d", a.plain.n.Load(), p, fromNATS.Load(), 3*n, 3*n, 3*n, bad, a.plain.bad.Load())
	}

	// Queue group "workers": a member on B only; A publishes: B's member
	// gets each once.
	if err := b.Send("member"); err != nil {
		t.Fatal(err)
	}
	b.Expect(t, "member", 10*time.Second)
	if err := a.publish("jobs.x", n); err != nil {
		t.Fatal(err)
	}
	eventually(t, "A's jobs at B's member", func() bool { _, g, _ := counts(t, b); return g == n })
	// Members on both: A's publications stay in A, B's in B; the NATS
	// client's go to one of the two.
	if err := a.member(); err != nil {
		t.Fatal(err)
	}
	a.sys.Registry().Sync()
	if err := a.publish("jobs.y", n); err != nil {
		t.Fatal(err)
	}
	eventually(t, "A's jobs at A's member", func() bool { return a.group.n.Load() == n })
	for i := range n {
		if err := nc.Publish("jobs.z", []byte(fmt.Sprintf("raw %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the NATS client's jobs once across machines", func() bool {
		_, g, _ := counts(t, b)
		return a.group.n.Load()+g == 3*n
	})
	time.Sleep(300 * time.Millisecond)
	if _, g, _ := counts(t, b); a.group.n.Load()+g != 3*n {
		t.Fatalf("queue group across machines got %d+%d, want %d in all", a.group.n.Load(), g, 3*n)
	}
	if st := a.b.Stats(); st.Refused != 0 || st.Unrouted != 0 || st.Exported == 0 || st.Imported == 0 {
		t.Fatalf("A's bridge: %+v", st)
	}
}

// A namespace has one bridge; bad arguments are named.
func TestBridgeBadInput(t *testing.T) {
	url := natsServer(t)
	sys, err := actor.Join("one", actor.WithRoot(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	b, err := New(sys, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(sys, url); !errors.Is(err, ErrBridged) {
		t.Fatalf("a second bridge: %v, want ErrBridged", err)
	}
	if err := b.Subject("orders..x"); !errors.Is(err, topic.ErrInvalidSubject) {
		t.Fatalf("a bad pattern: %v", err)
	}
	if err := b.QueueGroup("jobs.*", "bad group"); err == nil {
		t.Fatal("a bad group was accepted")
	}
	if _, err := New(nil, url); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("nil System: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Subject("orders.>"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	// Closed, it released the namespace's bridge.
	b2, err := New(sys, url)
	if err != nil {
		t.Fatalf("a bridge after the first closed: %v", err)
	}
	b2.Close()
	if _, err := New(sys, "nats://127.0.0.1:1"); err == nil {
		t.Fatal("a bridge to no server started")
	}
}

// What comes from NATS is decoded by its type header; no bytes make it
// panic.
func FuzzDecode(f *testing.F) {
	b := &Bridge{}
	b.encs.New = func() any { return wire.NewEncoder(wire.Default) }
	b.decs.New = func() any { return wire.NewDecoder(wire.Default) }
	enc, typ, err := b.encode(&Order{ID: 1, Note: "x"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(typ, enc)
	f.Add("", []byte("raw"))
	f.Add("string", []byte("s"))
	f.Add("natsbridge.Order", []byte{0xc1})
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		_, _ = b.decode(typ, data)
	})
}

func init() { helpers["bridge-only"] = helperBridgeOnly }

// helperBridgeOnly runs a namespace's bridge and waits.
func helperBridgeOnly() error {
	sys, err := actor.Join("failover", actor.WithRoot(os.Getenv(envRoot)))
	if err != nil {
		return err
	}
	defer sys.Close()
	b, err := New(sys, os.Getenv(envURL))
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Println("ready")
	bufio.NewScanner(os.Stdin).Scan()
	return nil
}

// The process that runs a namespace's bridge is killed with kill -9:
// another process of the namespace can then start one, once the dead
// node is reaped.
func TestBridgeTakenOverAfterKill(t *testing.T) {
	url := natsServer(t)
	root := testproc.TempDir(t)
	p := testproc.Start(t, "bridge-only", envRoot+"="+root, envURL+"="+url)
	p.Expect(t, "ready", time.Minute)
	sys, err := actor.Join("failover", actor.WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	if _, err := New(sys, url); !errors.Is(err, ErrBridged) {
		t.Fatalf("a second bridge while the first runs: %v, want ErrBridged", err)
	}
	p.Kill()
	killed := time.Now()
	for {
		b, err := New(sys, url)
		if err == nil {
			t.Logf("bridged again %v after kill -9 of the bridge's process", time.Since(killed))
			b.Close()
			return
		}
		if !errors.Is(err, ErrBridged) {
			t.Fatal(err)
		}
		if time.Since(killed) > 15*time.Second {
			t.Fatal("the namespace still has the killed process's bridge 15s later")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
