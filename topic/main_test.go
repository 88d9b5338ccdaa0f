package topic

import (
	"testing"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/testproc"
)

var helpers = map[string]func() error{}

func TestMain(m *testing.M) { testproc.Main(m, helpers) }

// Test messages.
type (
	Note struct {
		Pub  int
		Seq  int
		Text string
	}
	Unregistered struct{ X int }
)

func init() {
	if err := actor.RegisterMessage[*Note](); err != nil {
		panic(err)
	}
}

func joinT(t testing.TB, root, ns string, opts ...actor.Option) *actor.System {
	t.Helper()
	s, err := actor.Join(ns, append([]actor.Option{actor.WithRoot(root)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// collector gathers what a function subscriber receives.
type collector struct {
	ch chan delivery
}

func newCollector(n int) *collector { return &collector{ch: make(chan delivery, n)} }

func (c *collector) fn(subject string, msg any) { c.ch <- delivery{subject: subject, msg: msg} }

// next waits for the next delivery.
func (c *collector) next(t testing.TB) delivery {
	t.Helper()
	select {
	case d := <-c.ch:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery within 5s")
	}
	return delivery{}
}

// none checks that nothing arrives for a while.
func (c *collector) none(t testing.TB, wait time.Duration) {
	t.Helper()
	select {
	case d := <-c.ch:
		t.Fatalf("unexpected delivery on %q: %v", d.subject, d.msg)
	case <-time.After(wait):
	}
}
