package actor

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
)

// Actors spawned with SpawnNamed run on the inbox pump; these tests hold
// the pump to its promise that no handler, however slow or blocked,
// stalls the other messages of its process.

func init() {
	helpers["pump-node"] = helperPumpNode
}

// helperPumpNode serves "slow" (answers each Ping, after 1 s for one
// noted "sleep"), "echo", and
// "relay" (answers each Ping with what it asked "echo" in ACT_NAME's
// process: a handler blocked on a reply that comes through its own
// inbox). On "stats" it prints its hand-off count.
func helperPumpNode() error {
	s, err := helperJoin()
	if err != nil {
		return err
	}
	defer s.Close()
	slow := PropsFromFunc(func(ctx Context) {
		if p, ok := ctx.Message().(*Ping); ok {
			if p.Note == "sleep" {
				time.Sleep(time.Second)
			}
			ctx.Respond(&Pong{N: p.N, From: "slow"})
		}
	})
	relay := PropsFromFunc(func(ctx Context) {
		p, ok := ctx.Message().(*Ping)
		if !ok {
			return
		}
		pid, err := s.Lookup(os.Getenv(envName))
		if err != nil {
			ctx.Respond(&Pong{N: -1, From: err.Error()})
			return
		}
		res, err := ctx.RequestFuture(pid, &Ping{N: p.N}, 5*time.Second).Result()
		if pong, ok := res.(*Pong); err == nil && ok {
			ctx.Respond(&Pong{N: pong.N, From: "relay via " + pong.From})
			return
		}
		ctx.Respond(&Pong{N: -1, From: fmt.Sprint(res, err)})
	})
	for name, props := range map[string]*Props{"slow": slow, "echo": echo("echo"), "relay": relay} {
		if _, err := s.SpawnNamed(props, name); err != nil {
			return err
		}
	}
	fmt.Println("ready")
	commands(func(cmd string, _ []string) {
		if cmd == "stats" {
			fmt.Println("handoffs", s.Stats().HandOffs)
		}
	})
	return nil
}

// A handler that sleeps holds up no other actor of its process: while
// "slow" works through three requests (3 s), "echo" in the same process
// answers at once, and "slow" answers all three, in order.
func TestSlowHandlerDoesNotStallInbox(t *testing.T) {
	root := testproc.TempDir(t)
	p := testproc.Start(t, "pump-node", env(root, "pump")...)
	p.Expect(t, "ready", time.Minute)
	s := joinT(t, root, "pump")
	slow, err := s.Lookup("slow")
	if err != nil {
		t.Fatal(err)
	}
	echoPID, err := s.Lookup("echo")
	if err != nil {
		t.Fatal(err)
	}
	// A first request that "slow" answers at once: after it, "slow" is an
	// idle actor, which the pump runs itself when the next one comes.
	if _, err := s.Root.RequestFuture(slow, &Ping{N: -1}, 10*time.Second).Result(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	var slowFutures []*Future
	for i := range 3 {
		slowFutures = append(slowFutures, s.Root.RequestFuture(slow, &Ping{N: i, Note: "sleep"}, 10*time.Second))
	}
	time.Sleep(50 * time.Millisecond) // "slow" is in its first handler
	t0 := time.Now()
	res, err := s.Root.RequestFuture(echoPID, &Ping{N: 7}, 10*time.Second).Result()
	took := time.Since(t0)
	if pong, ok := res.(*Pong); err != nil || !ok || pong.N != 7 {
		t.Fatalf("echo: %v, %v", res, err)
	}
	// The stall this test guards against is a whole second or more.
	if took > 500*time.Millisecond {
		t.Fatalf("echo answered after %v while another actor of its process slept", took)
	}
	var last time.Time
	for i, f := range slowFutures {
		res, err := f.Result()
		if pong, ok := res.(*Pong); err != nil || !ok || pong.N != i {
			t.Fatalf("slow request %d: %v, %v", i, res, err)
		}
		now := time.Now()
		if now.Before(last) {
			t.Fatalf("slow request %d answered before %d", i, i-1)
		}
		last = now
	}
	p.Send("stats")
	if got := p.Expect(t, "handoffs", 10*time.Second); got == "0" {
		t.Fatalf("no hand-off counted while a handler slept")
	}
}

// A handler that waits for a reply arriving through its own process's
// inbox gets it: the pump it runs on moves on to deliver the reply.
func TestHandlerAwaitingItsOwnInbox(t *testing.T) {
	root := testproc.TempDir(t)
	s := joinT(t, root, "relay")
	if _, err := s.SpawnNamed(echo("parent-echo"), "parent-echo"); err != nil {
		t.Fatal(err)
	}
	p := testproc.Start(t, "pump-node", env(root, "relay", envName+"=parent-echo")...)
	p.Expect(t, "ready", time.Minute)
	relay, err := s.Lookup("relay")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		res, err := s.Root.RequestFuture(relay, &Ping{N: i}, 10*time.Second).Result()
		pong, ok := res.(*Pong)
		if err != nil || !ok || pong.N != i || !strings.HasPrefix(pong.From, "relay via parent-echo") {
			t.Fatalf("relay %d: %+v, %v", i, res, err)
		}
	}
}
