//go:build unix

package registry

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A group namespace is 0770 and group-owned, and its files 0660, so
// processes of different users in the group can share it.
func TestGroupNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another group; CI runs as root")
	}
	root := testRoot(t)
	r, err := Join("g", &Options{Root: root, Group: "65534"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Register("shared-actor", ""); err != nil {
		t.Fatal(err)
	}
	for path, mode := range map[string]os.FileMode{
		filepath.Join(root, "g"):                                0o770,
		filepath.Join(root, "g", exclusiveFile("shared-actor")): 0o660,
		filepath.Join(root, "g", nodeFile(r.ID())):              0o660,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode || fi.Sys().(*syscall.Stat_t).Gid != 65534 {
			t.Errorf("%s: mode %v gid %d, want %v gid 65534", path, fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Gid, mode)
		}
	}
	// A second member joins the same group namespace.
	r2, err := Join("g", &Options{Root: root, Group: "65534"})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if e, err := r2.Lookup("shared-actor"); err != nil || e.Node != r.ID() {
		t.Fatalf("second member's lookup: %+v, %v", e, err)
	}
}
