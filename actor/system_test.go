package actor

import (
	"fmt"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
)

func TestRequestBetweenNodesInProcess(t *testing.T) {
	for _, plaintext := range []bool{false, true} {
		t.Run(fmt.Sprintf("plaintext=%v", plaintext), func(t *testing.T) {
			root := testproc.TempDir(t)
			var opts []Option
			if plaintext {
				opts = append(opts, WithPlaintext())
			}
			a, b := joinT(t, root, "shop", opts...), joinT(t, root, "shop", opts...)
			if _, err := a.SpawnNamed(echo("a"), "echo-a"); err != nil {
				t.Fatal(err)
			}
			pid, err := b.Lookup("echo-a")
			if err != nil {
				t.Fatal(err)
			}
			for i := range 100 {
				res, err := b.Root.RequestFuture(pid, &Ping{N: i}, 5*time.Second).Result()
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if p, ok := res.(*Pong); !ok || p.N != i || p.From != "a" {
					t.Fatalf("request %d: got %#v", i, res)
				}
			}
		})
	}
}
