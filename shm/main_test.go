package shm

import (
	"testing"

	"github.com/shmactor/shmactor/internal/testproc"
)

// helpers are the child-process entry points of the multi-process tests;
// see internal/testproc.
var helpers = map[string]func() error{}

func TestMain(m *testing.M) { testproc.Main(m, helpers) }

// openTestDir makes a fresh namespace directory for one test.
func openTestDir(t testing.TB) *Dir {
	t.Helper()
	d, err := OpenDir(testproc.TempDir(t), &DirOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
