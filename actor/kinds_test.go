package actor

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/registry"
)

// lifeCount counts the actors of a kind started and stopped.
type lifeCount struct{ started, stopped atomic.Int32 }

func (c *lifeCount) receive(ctx Context) {
	switch m := ctx.Message().(type) {
	case *proto.Started:
		c.started.Add(1)
	case *proto.Stopped:
		c.stopped.Add(1)
	case *Ping:
		ctx.Respond(&Pong{N: 2 * m.N})
	}
}

// A SpawnKind whose ctx has ended, before the call or while the spawner
// works, fails with ctx's error and leaves no actor of the kind running.
func TestSpawnKindEndedContextLeavesNoActor(t *testing.T) {
	s := joinT(t, t.TempDir(), "kindctx")
	var c lifeCount
	gate := make(chan struct{})
	if err := s.RegisterKind("k", PropsFromFunc(c.receive)); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterKind("slow", PropsFromProducer(func() proto.Actor {
		<-gate
		return proto.ReceiveFunc(c.receive)
	})); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.SpawnKind(cancelled, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := s.SpawnKind(short, "slow"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("past its deadline: %v", err)
	}
	close(gate)
	deadline := time.Now().Add(5 * time.Second)
	for c.started.Load() != c.stopped.Load() || c.started.Load() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d actors started and %d stopped after SpawnKind failed, want none left", c.started.Load(), c.stopped.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A name that is not valid fails SpawnKind as it fails SpawnNamed, with
// registry.ErrInvalidName, and spawns nothing.
func TestSpawnKindInvalidName(t *testing.T) {
	s := joinT(t, t.TempDir(), "kindname")
	var c lifeCount
	if err := s.RegisterKind("k", PropsFromFunc(c.receive)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"bad name", "quo\"te", string(make([]byte, registry.MaxNameLen+1))} {
		_, err := s.SpawnKind(context.Background(), "k", Named(name))
		if !errors.Is(err, registry.ErrInvalidName) {
			t.Fatalf("named %q: %v, want registry.ErrInvalidName", name, err)
		}
		checkMessage(t, err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := c.started.Load(); n != 0 {
		t.Fatalf("%d actors started", n)
	}
}

// PoolMembers of an actor that is not a pool fails rather than panics,
// and on a closed System with ErrClosed.
func TestPoolMembersNotAPool(t *testing.T) {
	s, err := Join("poolnot", WithRoot(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other := s.Root.Spawn(PropsFromFunc(func(ctx Context) {
		if _, ok := ctx.Message().(*proto.Started); !ok {
			ctx.Respond("not a pool")
		}
	}))
	if _, err := s.PoolMembers(other, time.Second); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("members of a non-pool: %v, want ErrInvalidArgument", err)
	}
	if _, err := s.PoolMembers(nil, time.Second); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("members of nil: %v, want ErrInvalidArgument", err)
	}
	s.Close()
	if _, err := s.PoolMembers(other, time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed System: %v, want ErrClosed", err)
	}
}

// A SpawnPool that fails part way, its ctx ending while the spawner
// makes the second member, leaves no member running.
func TestSpawnPoolFailureLeavesNoMember(t *testing.T) {
	s := joinT(t, t.TempDir(), "poolfail")
	var c lifeCount
	var made atomic.Int32
	gate := make(chan struct{})
	if err := s.RegisterKind("k", PropsFromProducer(func() proto.Actor {
		if made.Add(1) > 1 {
			<-gate
		}
		return proto.ReceiveFunc(c.receive)
	})); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := s.SpawnPool(ctx, "k", 3); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SpawnPool: %v, want its ctx's error", err)
	}
	close(gate)
	deadline := time.Now().Add(5 * time.Second)
	for c.started.Load() != c.stopped.Load() || c.started.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d members started and %d stopped after SpawnPool failed, want none left", c.started.Load(), c.stopped.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pastDeadline is a Context whose deadline has passed but whose Done has
// not closed yet, as a context.WithTimeout is for a moment after its
// deadline.
type pastDeadline struct{ context.Context }

func (pastDeadline) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

// SpawnKind with a deadline that has passed fails with
// context.DeadlineExceeded, never returns a nil PID and a nil error; many
// at once with deadlines of a few microseconds each either spawn or fail.
func TestSpawnKindPastDeadline(t *testing.T) {
	s := joinT(t, t.TempDir(), "kinddl")
	var c lifeCount
	if err := s.RegisterKind("k", PropsFromFunc(c.receive)); err != nil {
		t.Fatal(err)
	}
	pid, err := s.SpawnKind(pastDeadline{context.Background()}, "k")
	if pid != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("past its deadline: %v, %v; want context.DeadlineExceeded", pid, err)
	}
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%8)*time.Microsecond)
			defer cancel()
			if pid, err := s.SpawnKind(ctx, "k"); (pid == nil) == (err == nil) {
				t.Errorf("SpawnKind answered %v, %v", pid, err)
			}
		}()
	}
	wg.Wait()
}

// recordingStrategy records the failures it is given, and stops the
// failed actor.
type recordingStrategy struct{ reasons chan any }

func (r *recordingStrategy) HandleFailure(_ *ActorSystem, sup proto.Supervisor, child *PID, _ *proto.RestartStatistics, reason, _ any) {
	r.reasons <- reason
	sup.StopChildren(child)
}

// An actor spawned from a copy of Root with a guardian is supervised by
// that guardian, spawned under a name or not: Root's spawn middleware
// used to spawn from Root itself, dropping the guardian, so that the
// failure went to the default strategy instead.
func TestRootGuardianKept(t *testing.T) {
	s := joinT(t, t.TempDir(), "guardian")
	for _, name := range []string{"", "guarded"} {
		t.Run("name="+name, func(t *testing.T) {
			g := &recordingStrategy{reasons: make(chan any, 1)}
			root := s.Root.Copy().WithGuardian(g)
			props := PropsFromFunc(func(ctx Context) {
				if _, ok := ctx.Message().(*Ping); ok {
					panic("guarded boom")
				}
			})
			var pid *PID
			var err error
			if name == "" {
				pid = root.Spawn(props)
			} else {
				pid, err = root.SpawnNamed(props, name)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.Lookup(name); err != nil {
					t.Fatalf("the guarded actor's name is not in the namespace: %v", err)
				}
			}
			if err := s.Send(pid, &Ping{}); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-g.reasons:
				if r != "guarded boom" {
					t.Fatalf("the guardian was given %v", r)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the guardian's strategy was not given the failure")
			}
		})
	}
}
