package registry

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shmactor/shmactor/internal/testproc"
)

// The last node to leave a namespace removes it; one that leaves while
// another node lives keeps it.
func TestLastNodeRemovesNamespace(t *testing.T) {
	root := testproc.TempDir(t)
	a, b := join(t, root, "gone"), join(t, root, "gone")
	dir := filepath.Join(root, "gone")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the namespace went while a node lives: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		ents, _ := os.ReadDir(dir)
		t.Fatalf("the namespace is still there after its last node left (%v): %v", err, ents)
	}
	// And it can be joined again.
	c := join(t, root, "gone")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
