package topic

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/registry"
)

const envIdentity = "TOPIC_IDENTITY"

func init() { helpers["squatter"] = helperSquatter }

// answer answers every Note with one carrying name.
func answer(name string) *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*Note); ok {
			ctx.Respond(&Note{Text: name})
		}
	})
}

// helperSquatter joins with TOPIC_IDENTITY (an identity no trust store
// lists), takes the name "orders" first, subscribes to "orders.*" and
// consumes the work queue "jobs"; on "count" it prints how many
// publications and jobs reached it.
func helperSquatter() error {
	s, err := actor.Join(os.Getenv(envNS), actor.WithRoot(os.Getenv(envRoot)), actor.WithIdentity(os.Getenv(envIdentity)))
	if err != nil {
		return err
	}
	defer s.Close()
	var pubs, jobs atomic.Int64
	if _, err := s.SpawnNamed(answer("squatter"), "orders"); err != nil {
		return err
	}
	if _, err := SubscribeFunc(s, "orders.*", func(string, any) { pubs.Add(1) }); err != nil {
		return err
	}
	if _, err := s.ConsumeQueue("jobs", actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*Note); ok {
			jobs.Add(1)
		}
	})); err != nil {
		return err
	}
	fmt.Println("ready")
	commands(func(cmd string, _ []string) {
		if cmd == "count" {
			fmt.Println("count", pubs.Load(), jobs.Load())
		}
	})
	return nil
}

// With a trust store, a node whose identity is not listed holds nothing
// a trusted node sees: the name it took first is not found, and taken
// over when a trusted node registers it; its subscription gets no
// publication, and its queue consumer reads no job (the queue is
// re-keyed by the trusted node, which does not share the key with it).
func TestUntrustedNodeHoldsNothing(t *testing.T) {
	dir, root := t.TempDir(), testproc.TempDir(t)
	alice, mallory, store := filepath.Join(dir, "alice"), filepath.Join(dir, "mallory"), filepath.Join(dir, "trusted")
	line, err := actor.GenerateIdentity(alice, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := actor.GenerateIdentity(mallory, "mallory"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(store, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testproc.Start(t, "squatter", envRoot+"="+root, envNS+"=guarded", envIdentity+"="+mallory)
	p.Expect(t, "ready", time.Minute)

	s := joinT(t, root, "guarded", actor.WithIdentity(alice), actor.WithTrustStore(store))
	if _, err := s.Lookup("orders"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Lookup of the name the untrusted node took: %v, want registry.ErrNotFound", err)
	}
	if _, err := s.SpawnNamed(answer("alice"), "orders"); err != nil {
		t.Fatalf("a trusted node registering the squatted name: %v", err)
	}
	pid, err := s.Lookup("orders")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Request(pid, &Note{Text: "who"}, 5*time.Second)
	if err != nil || got.(*Note).Text != "alice" {
		t.Fatalf("orders answered %+v, %v", got, err)
	}

	var mine atomic.Int64
	if _, err := SubscribeFunc(s, "orders.*", func(string, any) { mine.Add(1) }); err != nil {
		t.Fatal(err)
	}
	var jobs atomic.Int64
	if _, err := s.ConsumeQueue("jobs", actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*Note); ok {
			jobs.Add(1)
		}
	})); err != nil {
		t.Fatal(err)
	}
	q, err := s.QueuePID("jobs")
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := 0; i < n; i++ {
		if err := Publish(s, "orders.new", &Note{Text: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Send(q, &Note{Text: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for end := time.Now().Add(10 * time.Second); mine.Load() < n && time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
	}
	if mine.Load() != n {
		t.Fatalf("this node got %d of %d publications", mine.Load(), n)
	}
	// The untrusted process can still take frames from the queue's ring
	// (it can write the namespace), but not open them: the jobs it takes
	// are lost to this node, never read (docs/security.md).
	t.Logf("this node got %d of %d jobs", jobs.Load(), n)
	if err := p.Send("count"); err != nil {
		t.Fatal(err)
	}
	if c := p.Expect(t, "count", 10*time.Second); c != "0 0" {
		t.Fatalf("the untrusted node got (publications, jobs) %q, want none", c)
	}
}
