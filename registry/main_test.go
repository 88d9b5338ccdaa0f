package registry

import (
	"testing"

	"github.com/shmactor/shmactor/internal/testproc"
)

var helpers = map[string]func() error{}

func TestMain(m *testing.M) { testproc.Main(m, helpers) }

// testRoot returns a fresh root directory for namespaces of one test.
func testRoot(t testing.TB) string {
	return testproc.TempDir(t)
}

func join(t testing.TB, root, ns string) *Registry {
	t.Helper()
	r, err := Join(ns, &Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
