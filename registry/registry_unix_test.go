//go:build unix

package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/shmactor/shmactor/shm"
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

// Another user can make <dir>/shmactor-<uid> a symlink to a directory of
// theirs (or to a sticky one such as /var/tmp) before a first Join: Join
// refuses such a root, and a namespace directory that is a symlink, rather
// than live where the symlink points.
func TestJoinRefusesSymlinks(t *testing.T) {
	parent := filepath.Dir(testRoot(t))
	sticky := func(t *testing.T, name string) string {
		dir := filepath.Join(parent, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	check := func(t *testing.T, root, link, target string) {
		t.Helper()
		r, err := Join("ns", &Options{Root: root})
		if err == nil {
			r.Close()
		}
		var ie *shm.InsecureError
		if !errors.Is(err, shm.ErrInsecure) || !errors.As(err, &ie) {
			t.Fatalf("Join under %s: %v, want shm.ErrInsecure", root, err)
		}
		if ie.Path != link || !strings.Contains(err.Error(), "symlink") {
			t.Fatalf("error %q does not name %s as a symlink", err, link)
		}
		if es, _ := os.ReadDir(target); len(es) > 0 {
			t.Fatalf("%s made at the symlink's target", es[0].Name())
		}
	}
	t.Run("root", func(t *testing.T) {
		target := sticky(t, "var-tmp")
		root := filepath.Join(parent, fmt.Sprintf("shmactor-%d", os.Geteuid()))
		if err := os.Symlink(target, root); err != nil {
			t.Fatal(err)
		}
		check(t, root, root, target)
	})
	t.Run("namespace", func(t *testing.T) {
		target := sticky(t, "elsewhere")
		root := filepath.Join(parent, "good-root")
		if err := os.Mkdir(root, 0o700); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(root, "ns")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		check(t, root, link, target)
	})
}
