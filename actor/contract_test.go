package actor

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/mailbox"
	"github.com/shmactor/shmactor/registry"
)

// WithChan has a field that cannot cross processes: it does not register.
type WithChan struct{ C chan int }

// Chain registers, but a cyclic Chain nests without end and cannot be
// encoded.
type Chain struct{ Next *Chain }

func init() { RegisterMessage[*Chain]() }

func cyclic() *Chain {
	c := &Chain{}
	c.Next = c
	return c
}

// errorPrefixes are the packages' error prefixes; a message names each at
// most once.
var errorPrefixes = []string{"shmactor: ", "registry: ", "mailbox: ", "shm: ", "topic: ", "wire: ", "seal: "}

// checkMessage fails t if err's message repeats a package prefix or shows
// a file of the namespace directory.
func checkMessage(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	for _, p := range errorPrefixes {
		if strings.Count(msg, p) > 1 {
			t.Errorf("%q repeats %q", msg, p)
		}
	}
	for _, internal := range []string{" x.", " s.", "/x.", "inbox-", "node-"} {
		if strings.Contains(msg, internal) {
			t.Errorf("%q shows an internal file name (%q)", msg, internal)
		}
	}
}

// Every exported call refuses bad input with its documented sentinel, in
// a message that names each package once.
func TestBadInputSentinels(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "contract"), joinT(t, root, "contract")
	if _, err := a.SpawnNamed(echo("a"), "echo"); err != nil {
		t.Fatal(err)
	}
	remote := mustLookup(t, b, "echo")
	local, err := b.SpawnNamed(echo("b"), "echo-b")
	if err != nil {
		t.Fatal(err)
	}
	queue, err := b.QueuePID("jobs")
	if err != nil {
		t.Fatal(err)
	}
	foreign := NewPID("shm://elsewhere/0000000000000001", "echo")
	long := strings.Repeat("q", registry.MaxNameLen-3)
	request := func(pid *PID, msg any, timeout time.Duration) func() error {
		return func() error { _, err := b.Request(pid, msg, timeout); return err }
	}
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"Join/nil option", func() error { _, err := Join("contract", WithRoot(root), nil); return err }, ErrInvalidOption},
		{"Join/bad namespace", func() error { _, err := Join("a b", WithRoot(root)); return err }, registry.ErrInvalidName},
		{"RegisterMessage/unnamed type", func() error { return RegisterMessage[[]int]() }, ErrRegistration},
		{"RegisterMessageName/empty name", func() error { return RegisterMessageName[*Ping]("") }, ErrRegistration},
		{"RegisterMessageName/taken", func() error { return RegisterMessageName[*Pong]("github.com/shmactor/shmactor/actor.Ping") }, ErrRegistration},
		{"RegisterMessage/channel field", func() error { return RegisterMessage[*WithChan]() }, ErrRegistration},
		{"SpawnNamed/nil props", func() error { _, err := b.SpawnNamed(nil, "x"); return err }, ErrInvalidArgument},
		{"SpawnNamed/empty name", func() error { _, err := b.SpawnNamed(echo("b"), ""); return err }, registry.ErrInvalidName},
		{"SpawnNamed/taken", func() error { _, err := b.SpawnNamed(echo("b"), "echo"); return err }, registry.ErrNameTaken},
		{"Root.SpawnNamed/taken", func() error { _, err := b.Root.SpawnNamed(echo("b"), "echo"); return err }, registry.ErrNameTaken},
		{"Root.SpawnNamed/bad name", func() error { _, err := b.Root.SpawnNamed(echo("b"), "a b"); return err }, registry.ErrInvalidName},
		{"Lookup/empty name", func() error { _, err := b.Lookup(""); return err }, registry.ErrInvalidName},
		{"Lookup/unknown name", func() error { _, err := b.Lookup("orders"); return err }, registry.ErrNotFound},
		{"Send/nil PID", func() error { return b.Send(nil, &Ping{}) }, ErrInvalidArgument},
		{"Send/nil message", func() error { return b.Send(remote, nil) }, ErrInvalidArgument},
		{"Send/nil message, local", func() error { return b.Send(local, nil) }, ErrInvalidArgument},
		{"Send/nil message, queue", func() error { return b.Send(queue, nil) }, ErrInvalidArgument},
		{"Send/foreign PID", func() error { return b.Send(foreign, &Ping{}) }, ErrNotShmPID},
		{"Send/unregistered", func() error { return b.Send(remote, &Unregistered{}) }, ErrUnregistered},
		{"Send/unencodable", func() error { return b.Send(remote, cyclic()) }, ErrEncode},
		{"Send/unknown node", func() error { return b.Send(NewPID(b.NodeAddress(12345), "x"), &Ping{}) }, mailbox.ErrNodeGone},
		{"Send/queue, unregistered", func() error { return b.Send(queue, &Unregistered{}) }, ErrUnregistered},
		{"Request/nil PID", request(nil, &Ping{}, time.Second), ErrInvalidArgument},
		{"Request/nil message", request(remote, nil, time.Second), ErrInvalidArgument},
		{"Request/nil message, local", request(local, nil, time.Second), ErrInvalidArgument},
		{"Request/zero timeout", request(remote, &Ping{}, 0), ErrInvalidArgument},
		{"Request/negative timeout", request(remote, &Ping{}, -time.Second), ErrInvalidArgument},
		{"Request/foreign PID", request(foreign, &Ping{}, time.Minute), ErrNotShmPID},
		{"Request/unregistered", request(remote, &Unregistered{}, time.Minute), ErrUnregistered},
		{"Request/unencodable", request(remote, cyclic(), time.Minute), ErrEncode},
		{"Request/unknown node", request(NewPID(b.NodeAddress(12345), "x"), &Ping{}, time.Minute), mailbox.ErrNodeGone},
		{"Request/queue, unregistered", request(queue, &Unregistered{}, time.Minute), ErrUnregistered},
		{"QueuePID/empty name", func() error { _, err := b.QueuePID(""); return err }, registry.ErrInvalidName},
		{"QueuePID/too long", func() error { _, err := b.QueuePID(long); return err }, registry.ErrInvalidName},
		{"ConsumeQueue/nil props", func() error { _, err := b.ConsumeQueue("jobs", nil); return err }, ErrInvalidArgument},
		{"ConsumeQueue/bad name", func() error { _, err := b.ConsumeQueue("a b", echo("b")); return err }, registry.ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := tt.call()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v: bad input must fail at once", d)
			}
			checkMessage(t, err)
		})
	}
}

// A lookup of a name nobody holds says so in the user's terms.
func TestLookupErrorMessage(t *testing.T) {
	s := joinT(t, testproc.TempDir(t), "shop")
	_, err := s.Lookup("orders")
	if !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("err = %v, want registry.ErrNotFound", err)
	}
	if want := `shmactor: lookup "orders": no actor has that name in namespace "shop"`; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	checkMessage(t, err)
}

// Request reports what Send reports, the same error, at once.
func TestRequestReportsWhatSendReports(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "same"), joinT(t, root, "same")
	if _, err := a.SpawnNamed(echo("a"), "echo"); err != nil {
		t.Fatal(err)
	}
	pid := mustLookup(t, b, "echo")
	for _, msg := range []any{cyclic(), &Unregistered{}} {
		sendErr := b.Send(pid, msg)
		start := time.Now()
		_, reqErr := b.Request(pid, msg, time.Minute)
		if sendErr == nil || reqErr == nil || sendErr.Error() != reqErr.Error() || time.Since(start) > 5*time.Second {
			t.Errorf("%T: Send %v; Request %v after %v", msg, sendErr, reqErr, time.Since(start))
		}
	}
	// Sizes differ by the sender's PID; the error is the same kind.
	off := joinT(t, root, "same", WithOutOfLineQuota(-1))
	big := &Big{Data: make([]byte, 100<<10)}
	if _, err := off.Request(pid, big, time.Minute); !errors.Is(err, mailbox.ErrTooLarge) || !errors.Is(off.Send(pid, big), mailbox.ErrTooLarge) {
		t.Errorf("too large: Request %v", err)
	}
	// The request that failed left no future behind.
	if _, err := b.Request(pid, &Ping{N: 3}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := b.links.pending(); n != 0 {
		t.Errorf("%d futures still waiting on a node", n)
	}
	if n := off.links.pending(); n != 0 {
		t.Errorf("%d futures still waiting on a node", n)
	}
	// protoactor's own RequestFuture still gets a dead letter.
	if _, err := off.Root.RequestFuture(pid, big, time.Minute).Result(); !errors.Is(err, ErrDeadLetter) {
		t.Errorf("RequestFuture of a message too large: %v, want ErrDeadLetter", err)
	}
}

// After Close, every call of the System fails with ErrClosed.
func TestCallsAfterClose(t *testing.T) {
	root := testproc.TempDir(t)
	a := joinT(t, root, "closed")
	if _, err := a.SpawnNamed(echo("a"), "echo"); err != nil {
		t.Fatal(err)
	}
	b := joinT(t, root, "closed")
	remote := mustLookup(t, b, "echo")
	local, err := b.SpawnNamed(echo("b"), "echo-b")
	if err != nil {
		t.Fatal(err)
	}
	queue, err := b.QueuePID("jobs")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"SpawnNamed", func() error { _, err := b.SpawnNamed(echo("b"), "other"); return err }},
		{"Root.SpawnNamed", func() error { _, err := b.Root.SpawnNamed(echo("b"), "other"); return err }},
		{"Lookup", func() error { _, err := b.Lookup("echo"); return err }},
		{"Send", func() error { return b.Send(remote, &Ping{}) }},
		{"Send/local", func() error { return b.Send(local, &Ping{}) }},
		{"Send/queue", func() error { return b.Send(queue, &Ping{}) }},
		{"Request", func() error { _, err := b.Request(remote, &Ping{}, time.Second); return err }},
		{"Request/local", func() error { _, err := b.Request(local, &Ping{}, time.Second); return err }},
		{"QueuePID", func() error { _, err := b.QueuePID("jobs"); return err }},
		{"ConsumeQueue", func() error { _, err := b.ConsumeQueue("jobs", echo("b")); return err }},
		{"ConsumeQueue/nil props", func() error { _, err := b.ConsumeQueue("jobs", nil); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("err = %v, want ErrClosed", err)
			}
			checkMessage(t, err)
		})
	}
}

// Root.SpawnNamed, protoactor's own call, claims the name in the
// namespace like SpawnNamed: another process finds it, and the name is
// released when the actor stops. Generated ids stay local.
func TestRootSpawnNamedRegisters(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := joinT(t, root, "rootspawn"), joinT(t, root, "rootspawn")
	pid, err := a.Root.SpawnNamed(echo("a"), "by-root")
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Request(mustLookup(t, b, "by-root"), &Ping{N: 5}, 5*time.Second)
	if p, ok := res.(*Pong); err != nil || !ok || p.N != 5 {
		t.Fatalf("request to a name spawned with Root.SpawnNamed: %#v, %v", res, err)
	}
	if _, err := b.Root.SpawnNamed(echo("b"), "by-root"); !errors.Is(err, registry.ErrNameTaken) {
		t.Fatalf("the same name from another process: %v, want ErrNameTaken", err)
	}
	a.Root.Stop(pid)
	waitFor(t, "name not released after the actor stopped", func() bool {
		_, err := b.Lookup("by-root")
		return errors.Is(err, registry.ErrNotFound)
	})
	gen := a.Root.Spawn(echo("a"))
	pre := a.Root.SpawnPrefix(echo("a"), "worker")
	for _, p := range []*PID{gen, pre} {
		if _, err := a.Registry().Lookup(p.Id); err == nil {
			t.Errorf("generated id %q was registered", p.Id)
		}
	}
	// WithLocalRootNames keeps protoactor's local names, for libraries
	// that spawn fixed names from Root in every process.
	c := joinT(t, root, "rootspawn", WithLocalRootNames())
	if _, err := c.Root.SpawnNamed(echo("c"), "activator"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Registry().Lookup("activator"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("with WithLocalRootNames, Root.SpawnNamed registered the name (%v)", err)
	}
}

// pending counts the futures remembered as waiting on other nodes.
func (l *links) pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.futures {
		n += len(m)
	}
	return n
}
