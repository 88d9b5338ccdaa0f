package stream

import (
	"testing"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/testproc"
)

var helpers = map[string]func() error{}

func TestMain(m *testing.M) { testproc.Main(m, helpers) }

func joinT(t testing.TB, root, ns string, opts ...actor.Option) *actor.System {
	t.Helper()
	s, err := actor.Join(ns, append([]actor.Option{actor.WithRoot(root)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
