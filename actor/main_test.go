package actor

import (
	"testing"

	"github.com/shmactor/shmactor/internal/testproc"
)

var helpers = map[string]func() error{}

func TestMain(m *testing.M) { testproc.Main(m, helpers) }

// Test messages.
type (
	Ping struct {
		N    int
		Note string
	}
	Pong struct {
		N    int
		From string
	}
	Unregistered struct{ X int }
	Big          struct{ Data []byte }
)

func init() {
	for _, err := range []error{RegisterMessage[*Ping](), RegisterMessage[*Pong](), RegisterMessage[*Big]()} {
		if err != nil {
			panic(err)
		}
	}
}

func joinT(t testing.TB, root, ns string, opts ...Option) *System {
	t.Helper()
	s, err := Join(ns, append([]Option{WithRoot(root)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// echo answers Ping with Pong.
func echo(name string) *Props {
	return PropsFromFunc(func(ctx Context) {
		if p, ok := ctx.Message().(*Ping); ok {
			ctx.Respond(&Pong{N: p.N, From: name})
		}
	})
}
