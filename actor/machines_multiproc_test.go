package actor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/registry"
)

// Two "machines" here are two namespaces under separate roots, in
// separate processes, reaching each other over 127.0.0.1 only.

const (
	envIdentity = "SHMACTOR_TEST_IDENTITY"
	envTrust    = "SHMACTOR_TEST_TRUST"
)

func init() {
	helpers["machine-b"] = helperMachineB
	helpers["machine-local"] = helperMachineLocal
	helpers["machine-lookup"] = helperMachineLookup
}

// helperMachineLookup joins with a remote, looks LOOKUP_NAME up at
// LOOKUP_AT and prints "lookup <pid>" or "lookup error <err>", then tries
// a second System with a remote and prints "second <err>". (It runs in a
// process of its own: protoactor-go's remote sets gRPC's process-wide
// logger as it starts, so a process starts one remote.)
func helperMachineLookup() error {
	s, err := Join(os.Getenv(envNS), machineOptions(os.Getenv(envRoot), os.Getenv(envIdentity), os.Getenv(envTrust))...)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	pid, err := s.LookupAt(ctx, os.Getenv("LOOKUP_AT"), os.Getenv("LOOKUP_NAME"))
	if err != nil {
		fmt.Println("lookup error", err)
	} else {
		fmt.Println("lookup", pidText(pid))
	}
	_, err = Join("second", machineOptions(os.Getenv(envRoot), os.Getenv(envIdentity), os.Getenv(envTrust))...)
	fmt.Println("second", err)
	commands(func(string, []string) {})
	return nil
}

// helperMachineLocal is a second node of a machine, with a remote too:
// an echo actor named "local".
func helperMachineLocal() error {
	s, err := Join(os.Getenv(envNS), machineOptions(os.Getenv(envRoot), os.Getenv(envIdentity), os.Getenv(envTrust))...)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.SpawnNamed(echo("a2"), "local"); err != nil {
		return err
	}
	fmt.Println("ready", s.NodeAddress(s.NodeID()))
	commands(func(string, []string) {})
	return nil
}

// machineOptions are a machine's options: a remote on 127.0.0.1 with
// mutual TLS from its identity and trust store.
func machineOptions(root, identity, trust string) []Option {
	return []Option{WithRoot(root), WithIdentity(identity), WithTrustStore(trust), WithRemote("127.0.0.1:0")}
}

// helperMachineB is machine B's node: an actor "orders" that answers
// Ping with Pong and a protobuf StringValue with one, and "router", which
// forwards what it gets to "orders". It prints "ready <address>".
func helperMachineB() error {
	s, err := Join(os.Getenv(envNS), machineOptions(os.Getenv(envRoot), os.Getenv(envIdentity), os.Getenv(envTrust))...)
	if err != nil {
		return err
	}
	defer s.Close()
	bigs := 0
	orders, err := s.SpawnNamed(PropsFromFunc(func(ctx Context) {
		switch m := ctx.Message().(type) {
		case *Big:
			if len(m.Data) == 64<<10 {
				bigs++
			}
		case *Ping:
			if m.Note == "bigs" {
				ctx.Respond(&Pong{N: bigs})
				return
			}
			ctx.Respond(&Pong{N: m.N + 1, From: "orders " + m.Note})
		case *wrapperspb.StringValue:
			ctx.Respond(wrapperspb.String("echo:" + m.GetValue()))
		}
	}), "orders")
	if err != nil {
		return err
	}
	if _, err := s.SpawnNamed(PropsFromFunc(func(ctx Context) {
		if _, ok := ctx.Message().(*Ping); ok {
			ctx.Forward(orders)
		}
	}), "router"); err != nil {
		return err
	}
	// "headers" answers with the header k it got; "relay" forwards a
	// Ping to the PID its note names.
	if _, err := s.SpawnNamed(PropsFromFunc(func(ctx Context) {
		if _, ok := ctx.Message().(*Ping); ok {
			ctx.Respond(&Pong{From: "k=" + ctx.MessageHeader().Get("k")})
		}
	}), "headers"); err != nil {
		return err
	}
	if _, err := s.SpawnNamed(PropsFromFunc(func(ctx Context) {
		if m, ok := ctx.Message().(*Ping); ok {
			ctx.Forward(parsePID(m.Note))
		}
	}), "relay"); err != nil {
		return err
	}
	fmt.Println("ready", s.NodeAddress(s.NodeID()))
	commands(func(string, []string) {})
	return nil
}

// identities writes an identity per name and a trust store listing
// those of trusted, and returns the identity files' paths and the trust
// store's.
func identities(t *testing.T, names []string, trusted ...string) (map[string]string, string) {
	t.Helper()
	dir := t.TempDir()
	paths := map[string]string{}
	var lines []string
	for _, n := range names {
		p := filepath.Join(dir, n+".key")
		line, err := GenerateIdentity(p, n)
		if err != nil {
			t.Fatal(err)
		}
		paths[n] = p
		for _, tr := range trusted {
			if tr == n {
				lines = append(lines, line)
			}
		}
	}
	trust := filepath.Join(dir, "trust")
	if err := os.WriteFile(trust, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return paths, trust
}

// Two machines: a name is looked up on the other by its address, and
// requests (registered types and protobuf messages), Forward, Watch and
// PoisonPill work across; kill -9 of the other machine's node ends the
// watch. The local path of a node with a remote is still shared memory.
func TestTwoMachines(t *testing.T) {
	ids, trust := identities(t, []string{"a", "b"}, "a", "b")
	rootA, rootB := testproc.TempDir(t), testproc.TempDir(t)
	b := testproc.Start(t, "machine-b", envRoot+"="+rootB, envNS+"=shop", envIdentity+"="+ids["b"], envTrust+"="+trust)
	addrB := b.Expect(t, "ready", time.Minute)
	if !strings.HasPrefix(addrB, "127.0.0.1:") {
		t.Fatalf("machine B's node address is %q, want its remote address", addrB)
	}
	a := joinT(t, rootA, "shop", machineOptions(rootA, ids["a"], trust)...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	orders, err := a.LookupAt(ctx, addrB, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if orders.Address != addrB {
		t.Fatalf("orders is at %s, want %s", orders.Address, addrB)
	}
	got, err := a.Request(orders, &Ping{N: 41, Note: "x"}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if p := got.(*Pong); p.N != 42 || p.From != "orders x" {
		t.Fatalf("across machines: %+v", p)
	}
	// A burst of 64 KiB messages: protoactor-go's remote batches up to
	// 1000 into one gRPC message, far past gRPC's default 4 MiB.
	big := &Big{Data: make([]byte, 64<<10)}
	for range 300 {
		if err := a.Send(orders, big); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := a.Request(orders, &Ping{Note: "bigs"}, 20*time.Second); err != nil || got.(*Pong).N != 300 {
		t.Fatalf("300 messages of 64 KiB across machines: %v arrived, %v", got, err)
	}
	got, err = a.Request(orders, wrapperspb.String("hi"), 10*time.Second)
	if err != nil || got.(*wrapperspb.StringValue).GetValue() != "echo:hi" {
		t.Fatalf("a protobuf message across machines: %v, %v", got, err)
	}
	router, err := a.LookupAt(ctx, addrB, "router")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := a.Request(router, &Ping{N: 1, Note: "fwd"}, 10*time.Second); err != nil || got.(*Pong).From != "orders fwd" {
		t.Fatalf("Forward across machines: %v, %v", got, err)
	}
	if _, err := a.LookupAt(ctx, addrB, "nobody"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("a name nobody holds there: %v, want registry.ErrNotFound", err)
	}

	// Locally, a second node of machine A is reached through shared
	// memory, although both have remotes and remote addresses.
	a2 := testproc.Start(t, "machine-local", envRoot+"="+rootA, envNS+"=shop", envIdentity+"="+ids["a"], envTrust+"="+trust)
	addrA2 := a2.Expect(t, "ready", time.Minute)
	a.Registry().Sync()
	local, err := a.Lookup("local")
	if err != nil {
		t.Fatal(err)
	}
	if local.Address != addrA2 || strings.HasPrefix(local.Address, addressPrefix) {
		t.Fatalf("the local node's actor is at %q, want its remote address %q", local.Address, addrA2)
	}
	sent := a.Stats().Sent
	if got, err := a.Request(local, &Ping{N: 3}, 5*time.Second); err != nil || got.(*Pong).From != "a2" {
		t.Fatalf("the local node: %v, %v", got, err)
	}
	if a.Stats().Sent == sent {
		t.Fatal("a request to a node of the same machine did not go through shared memory")
	}

	// PoisonPill and Watch across machines.
	terminated := make(chan *Terminated, 4)
	watcher := a.Root.Spawn(PropsFromFunc(func(ctx Context) {
		switch m := ctx.Message().(type) {
		case *PID:
			ctx.Watch(m)
		case *Terminated:
			terminated <- m
		}
	}))
	a.Root.Send(watcher, router)
	a.Root.Send(watcher, orders)
	// The watches are in place once a request has gone the same way.
	if _, err := a.Request(orders, &Ping{}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	a.Root.Send(router, &PoisonPill{})
	select {
	case m := <-terminated:
		if !samePID(m.Who, router) {
			t.Fatalf("Terminated for %v, want the router", m.Who)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no Terminated 10s after a PoisonPill across machines")
	}
	b.Kill()
	killed := time.Now()
	select {
	case m := <-terminated:
		if !samePID(m.Who, orders) || m.Why != TerminatedNodeGone {
			t.Fatalf("Terminated %v (%v), want orders, node gone", m.Who, m.Why)
		}
		t.Logf("the watch of an actor on another machine ended %v after kill -9 of its process", time.Since(killed))
	case <-time.After(15 * time.Second):
		t.Fatal("the watch of an actor on another machine did not end 15s after kill -9 of its process")
	}
	if _, err := a.Request(orders, &Ping{}, 2*time.Second); err == nil {
		t.Fatal("a request to the killed machine's actor was answered")
	}
}

// A machine whose identity the other does not trust is refused: its
// lookups are not answered. A second System with a remote in a process
// is refused, naming why.
func TestMachineNotTrusted(t *testing.T) {
	ids, trust := identities(t, []string{"a", "b", "mallory"}, "a", "b")
	// Mallory's own trust store lists everyone, so it would accept B; B
	// does not list Mallory.
	all := filepath.Join(t.TempDir(), "all")
	var lines []string
	for _, n := range []string{"a", "b", "mallory"} {
		l, err := IdentityTrustLine(ids[n])
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	if err := os.WriteFile(all, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := testproc.Start(t, "machine-b", envRoot+"="+testproc.TempDir(t), envNS+"=shop", envIdentity+"="+ids["b"], envTrust+"="+trust)
	addrB := b.Expect(t, "ready", time.Minute)
	for _, tc := range []struct {
		who, trust, want string
	}{
		{"a", trust, "lookup " + addrB + "/orders"},
		{"mallory", all, "lookup error "},
	} {
		t.Run(tc.who, func(t *testing.T) {
			p := testproc.Start(t, "machine-lookup", envRoot+"="+testproc.TempDir(t), envNS+"=shop", envIdentity+"="+ids[tc.who], envTrust+"="+tc.trust, "LOOKUP_AT="+addrB, "LOOKUP_NAME=orders")
			if got := "lookup " + p.Expect(t, "lookup", time.Minute); !strings.HasPrefix(got, tc.want) {
				t.Fatalf("%s's lookup: %q, want %q", tc.who, got, tc.want)
			}
			if got := p.Expect(t, "second", time.Minute); !strings.Contains(got, "one per process") {
				t.Fatalf("a second remote in a process: %q", got)
			}
		})
	}
}

// WithRemote's arguments are checked, each failure named.
func TestWithRemoteBadInput(t *testing.T) {
	ids, trust := identities(t, []string{"a"}, "a")
	for _, tc := range []struct {
		name string
		opt  Option
		want string
	}{
		{"no port", WithRemote("127.0.0.1"), "missing port"},
		{"bad port", WithRemote("127.0.0.1:99999"), "from 0 to 65535"},
		{"plaintext off loopback", WithRemote("192.0.2.1:0", RemoteInsecure()), "not a loopback address"},
		{"every address, nothing advertised", WithRemote("0.0.0.0:0", RemoteInsecure(), RemoteAllowNonLoopback()), "RemoteAdvertise"},
		{"insecure and TLS", WithRemote("127.0.0.1:0", RemoteInsecure(), RemoteTLS(nil)), "nil tls.Config"},
		{"nil option", WithRemote("127.0.0.1:0", nil), "nil RemoteOption"},
		{"bad advertise", WithRemote("127.0.0.1:0", RemoteAdvertise("nohost")), "RemoteAdvertise"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Join("badremote", WithRoot(t.TempDir()), tc.opt)
			if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want ErrInvalidOption saying %q", err, tc.want)
			}
			checkMessage(t, err)
		})
	}
	t.Run("no TLS", func(t *testing.T) {
		_, err := Join("badremote", WithRoot(t.TempDir()), WithRemote("127.0.0.1:0"))
		if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), "no TLS") {
			t.Fatalf("%v, want ErrInvalidOption: no TLS", err)
		}
	})
	t.Run("port taken", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		addr := ln.Addr().String()
		_, err = Join("taken2", WithRoot(t.TempDir()), WithIdentity(ids["a"]), WithTrustStore(trust), WithRemote(addr))
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("a remote on a port in use: %v", err)
		}
	})
	t.Run("lookup without remote", func(t *testing.T) {
		s := joinT(t, t.TempDir(), "noremote")
		if _, err := s.LookupAt(context.Background(), "127.0.0.1:1", "x"); !errors.Is(err, ErrNoRemote) {
			t.Fatalf("LookupAt without WithRemote: %v, want ErrNoRemote", err)
		}
		err := s.Send(NewPID("127.0.0.1:1", "x"), &Ping{})
		if !errors.Is(err, ErrNoRemote) || !strings.Contains(err.Error(), "127.0.0.1:1/x") {
			t.Fatalf("a send to another machine without WithRemote: %v, want ErrNoRemote naming the PID", err)
		}
		checkMessage(t, err)
	})
}

// parsePID reads "address/id" (the address is "host:port").
func parsePID(s string) *PID {
	i := strings.LastIndex(s, "/")
	if i < 0 {
		return nil
	}
	return NewPID(s[:i], s[i+1:])
}
