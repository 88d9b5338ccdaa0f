package actor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/internal/testproc"
)

// What the sender accepts, the receiver accepts: headers the receiving
// decoder would refuse (a value over 4096 bytes, more than 64 entries)
// are refused at the sender, so a request carrying them fails at once
// instead of waiting out its timeout, and nothing reaches the receiver.
func TestHeaderLimitsCheckedAtSender(t *testing.T) {
	root := testproc.TempDir(t)
	p := testproc.Start(t, "echo-node", env(root, "limits", envName+"=echo")...)
	p.Expect(t, "ready", time.Minute)
	s := joinT(t, root, "limits")
	pid, err := s.Lookup("echo")
	if err != nil {
		t.Fatal(err)
	}
	many := map[string]string{}
	for i := range 70 {
		many[fmt.Sprint("h", i)] = "v"
	}
	for _, tc := range []struct {
		name    string
		headers map[string]string
	}{
		{"a 5000-byte value", map[string]string{"big": strings.Repeat("x", 5000)}},
		{"70 headers", many},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Stats()
			// A request with headers: the envelope protoactor carries
			// them in, with a future as the sender.
			start := time.Now()
			f := proto.NewFuture(s.ActorSystem, 10*time.Second)
			s.Root.Send(pid, &proto.MessageEnvelope{Header: tc.headers, Message: &Ping{N: 1}, Sender: f.PID()})
			res, err := f.Result()
			if _, ok := res.(*Pong); ok {
				t.Fatal("the request was answered")
			}
			if err == nil {
				t.Fatalf("request: %v, want an error", res)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("the request failed after %v (its timeout), not at once: %v", took, err)
			}
			after := s.Stats()
			if after.Sent != before.Sent || after.Undeliverable == before.Undeliverable {
				t.Fatalf("sent %d→%d, undeliverable %d→%d: want nothing sent and one undeliverable", before.Sent, after.Sent, before.Undeliverable, after.Undeliverable)
			}
		})
	}
	// The receiver still answers a request within the limits.
	if _, err := s.Root.RequestFuture(pid, &Ping{N: 2}, 10*time.Second).Result(); err != nil {
		t.Fatal(err)
	}
}

func init() { helpers["mirror-node"] = helperMirrorNode }

// helperMirrorNode serves "mirror", which answers every message with
// itself.
func helperMirrorNode() error {
	s, err := helperJoin()
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.SpawnNamed(PropsFromFunc(func(ctx Context) {
		switch ctx.Message().(type) {
		case *proto.Started, *proto.Stopping, *proto.Stopped, *proto.Restarting:
			return
		}
		ctx.Respond(ctx.Message())
	}), "mirror"); err != nil {
		return err
	}
	fmt.Println("ready")
	commands(func(string, []string) {})
	return nil
}

// []byte and string payloads cross processes without registering a type,
// and arrive as they were sent (an empty slice stays empty, not nil).
func TestBytesAndStringsWithoutRegistering(t *testing.T) {
	root := testproc.TempDir(t)
	p := testproc.Start(t, "mirror-node", env(root, "raw")...)
	p.Expect(t, "ready", time.Minute)
	s := joinT(t, root, "raw")
	pid, err := s.Lookup("mirror")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		msg  any
	}{
		{"bytes", []byte{0, 1, 2, 0xff}},
		{"empty bytes", []byte{}},
		{"string", "héllo, wörld"},
		{"empty string", ""},
		{"long bytes", []byte(strings.Repeat("ab", 10000))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Root.RequestFuture(pid, tc.msg, 10*time.Second).Result()
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%T %q", res, res) != fmt.Sprintf("%T %q", tc.msg, tc.msg) {
				t.Fatalf("got %T %q, sent %T %q", res, res, tc.msg, tc.msg)
			}
			if b, ok := tc.msg.([]byte); ok && (b == nil) != (res.([]byte) == nil) {
				t.Fatalf("nil-ness changed: sent nil=%v", b == nil)
			}
		})
	}
}
