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
