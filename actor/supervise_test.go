package actor

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// A supervised child that is gone by the time its spawn is answered —
// it stopped itself in Started, here in this process — ends its
// stand-in: the parent gets Terminated for it, and a request to it is a
// dead letter. The stand-in used to deadlock on its own lock: its Watch
// of the child came back at once as Terminated (the dead-letter
// process answers a Watch of a stopped actor synchronously) while it
// held the lock. The child is named so that its spawn is answered after
// the name is claimed, which is when it has stopped, most rounds.
func TestSupervisedChildGoneBeforeItsSpawnIsAnswered(t *testing.T) {
	s := joinT(t, t.TempDir(), "gone-at-once")
	if err := s.RegisterKind("quitter", PropsFromFunc(func(ctx Context) {
		if _, ok := ctx.Message().(*Started); ok {
			ctx.Stop(ctx.Self())
		}
	})); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		spawned := make(chan *PID, 1)
		failed := make(chan error, 1)
		terminated := make(chan *PID, 1)
		parent := s.Root.Spawn(PropsFromFunc(func(ctx Context) {
			switch m := ctx.Message().(type) {
			case *Started:
				c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				pid, err := s.SpawnKind(c, "quitter", SupervisedBy(ctx), Named(fmt.Sprintf("quitter-%d", i)))
				if err != nil {
					failed <- err
					return
				}
				spawned <- pid
			case *Terminated:
				terminated <- m.Who
			}
		}))
		var child *PID
		select {
		case child = <-spawned:
		case err := <-failed:
			t.Fatalf("round %d: %v", i, err)
		case <-time.After(15 * time.Second):
			t.Fatalf("round %d: SpawnKind did not return in 15s", i)
		}
		select {
		case who := <-terminated:
			if !samePID(who, child) {
				t.Fatalf("round %d: Terminated for %v, want the child %v", i, who, child)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: the parent got no Terminated for its child that stopped in 10s", i)
		}
		if _, err := s.Request(child, &Ping{}, 5*time.Second); !errors.Is(err, ErrDeadLetter) {
			t.Fatalf("round %d: a request to the stopped child: %v, want ErrDeadLetter", i, err)
		}
		s.Root.Stop(parent)
	}
}
