//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package shm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/shmactor/shmactor/internal/testproc"
)

// nobody is a uid and gid that the test process is not.
const nobody = 65534

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		// CI runs as root; these cases need chown to another user.
		t.Skip("needs root to make files owned by another user")
	}
}

func wantInsecure(t *testing.T, err error, reason string) {
	t.Helper()
	var ie *InsecureError
	if !errors.As(err, &ie) || !errors.Is(err, ErrInsecure) {
		t.Fatalf("got %v, want *InsecureError (%s)", err, reason)
	}
	if !strings.Contains(ie.Reason, reason) {
		t.Fatalf("reason %q does not mention %q", ie.Reason, reason)
	}
}

func TestCreatedModesIgnoreUmask(t *testing.T) {
	for _, mask := range []int{0o000, 0o022, 0o077} {
		t.Run(fmt.Sprintf("umask%03o", mask), func(t *testing.T) {
			old := syscall.Umask(mask)
			defer syscall.Umask(old)
			path := filepath.Join(testproc.TempDir(t), "a", "ns")
			d, err := OpenDir(path, &DirOptions{Create: true})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			r, err := CreateRing(d, "ring", &RingConfig{Cells: 16})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			l, _ := d.Lease()
			for _, c := range []struct {
				path string
				want os.FileMode
			}{
				{filepath.Dir(path), 0o700},
				{path, 0o700},
				{filepath.Join(path, "ring"), 0o600},
				{filepath.Join(path, LeaseName(l.ID())), 0o600},
			} {
				fi, err := os.Lstat(c.path)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != c.want {
					t.Errorf("%s: mode %v under umask %03o, want %v", c.path, fi.Mode().Perm(), mask, c.want)
				}
			}
		})
	}
}

func TestDirRefusesSymlink(t *testing.T) {
	base := filepath.Dir(testproc.TempDir(t))
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "ns")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	_, err := OpenDir(link, &DirOptions{Create: true})
	wantInsecure(t, err, "symlink")
}

func TestDirRefusesLooseMode(t *testing.T) {
	for _, mode := range []os.FileMode{0o777, 0o755, 0o750, 0o701, 0o600} {
		t.Run(mode.String(), func(t *testing.T) {
			path := testproc.TempDir(t)
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err := OpenDir(path, nil)
			wantInsecure(t, err, "want 0700")
		})
	}
}

func TestDirRefusesForeignOwner(t *testing.T) {
	requireRoot(t)
	path := testproc.TempDir(t)
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	_, err := OpenDir(path, nil)
	wantInsecure(t, err, "owned by uid 65534")
}

func TestDirRefusesWritableAncestor(t *testing.T) {
	parent := filepath.Dir(testproc.TempDir(t))
	mid := filepath.Join(parent, "open")
	if err := os.Mkdir(mid, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(mid, 0o777); err != nil { // writable by all, no sticky bit
		t.Fatal(err)
	}
	_, err := OpenDir(filepath.Join(mid, "ns"), &DirOptions{Create: true})
	wantInsecure(t, err, "writable by others")
	if err := os.Chmod(mid, 0o777|os.ModeSticky); err != nil { // sticky, like /tmp: fine
		t.Fatal(err)
	}
	d, err := OpenDir(filepath.Join(mid, "ns"), &DirOptions{Create: true})
	if err != nil {
		t.Fatalf("sticky ancestor: %v", err)
	}
	d.Close()
}

func TestDirNotADirectory(t *testing.T) {
	path := testproc.TempDir(t)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := OpenDir(path, nil)
	wantInsecure(t, err, "not a directory")
}

func TestDirGroupNamespace(t *testing.T) {
	requireRoot(t)
	path := testproc.TempDir(t)
	d, err := OpenDir(path, &DirOptions{Create: true, Group: "65534"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	seg, err := d.CreateSegment("seg", KindUser, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	seg.Close()
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{path, 0o770}, {filepath.Join(path, "seg"), 0o660}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != c.mode || st.Gid != nobody {
			t.Errorf("%s: mode %v gid %d, want %v gid %d", c.path, fi.Mode().Perm(), st.Gid, c.mode, nobody)
		}
	}
	// A private open of a group namespace is refused: the mode is not 0700.
	_, err = OpenDir(path, nil)
	wantInsecure(t, err, "want 0700")
}

// Files planted at a segment's name are refused, never followed or
// overwritten.
func TestSegmentRefusesPlantedFiles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		plant  func(t *testing.T, path string)
		reason string
	}{
		{"symlink", func(t *testing.T, path string) {
			target := path + "-target"
			os.WriteFile(target, []byte("precious"), 0o600)
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}, "symlink"},
		{"foreign owner", func(t *testing.T, path string) {
			requireRoot(t)
			os.WriteFile(path, make([]byte, 8192), 0o600)
			if err := os.Chown(path, nobody, nobody); err != nil {
				t.Fatal(err)
			}
		}, "owned by uid 65534"},
		{"loose mode", func(t *testing.T, path string) {
			os.WriteFile(path, make([]byte, 8192), 0o600)
			os.Chmod(path, 0o644)
		}, "mode 0644"},
		{"directory", func(t *testing.T, path string) {
			os.Mkdir(path, 0o700)
		}, ""},
		{"fifo", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := openTestDir(t)
			path := filepath.Join(d.Path(), "seg")
			tc.plant(t, path)
			_, err := d.OpenSegment("seg", KindUser)
			if tc.reason != "" {
				wantInsecure(t, err, tc.reason)
			} else if err == nil {
				t.Fatal("opened a directory as a segment")
			}
			_, err = d.CreateSegment("seg", KindUser, 100, nil)
			if !errors.Is(err, ErrExist) {
				t.Fatalf("create over planted %s: %v, want ErrExist", tc.name, err)
			}
			if tc.name == "symlink" {
				if b, _ := os.ReadFile(path + "-target"); string(b) != "precious" {
					t.Fatalf("symlink target changed to %q", b)
				}
			}
		})
	}
}

// symlinkedRoot makes, in a fresh private parent, the directory "elsewhere"
// (sticky and writable by all, like /var/tmp) and a symlink to it named as
// the default root is, as another user could plant it before a first
// Join. It returns the symlink's path and its target.
func symlinkedRoot(t *testing.T) (root, target string) {
	t.Helper()
	parent := filepath.Dir(testproc.TempDir(t))
	target = filepath.Join(parent, "elsewhere")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(target, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	root = filepath.Join(parent, fmt.Sprintf("shmactor-%d", os.Geteuid()))
	if err := os.Symlink(target, root); err != nil {
		t.Fatal(err)
	}
	return root, target
}

// wantNothingIn fails the test if anything was created in dir.
func wantNothingIn(t *testing.T, dir string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) > 0 {
		t.Fatalf("%s: %d entries created through a symlink (first %s)", dir, len(es), es[0].Name())
	}
}

// The root directory a namespace lives in is never followed through a
// symlink, with or without Create, and nothing is made at its target.
func TestDirRefusesSymlinkedRoot(t *testing.T) {
	root, target := symlinkedRoot(t)
	for _, create := range []bool{true, false} {
		_, err := OpenDir(filepath.Join(root, "ns"), &DirOptions{Create: create})
		wantInsecure(t, err, "symlink")
		if ie := (*InsecureError)(nil); errors.As(err, &ie) && ie.Path != root {
			t.Errorf("create=%v: error names %s, want the symlink %s", create, ie.Path, root)
		}
		wantNothingIn(t, target)
	}
	// Also when the namespace is already there, at the symlink's target.
	if err := os.Mkdir(filepath.Join(target, "ns"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := OpenDir(filepath.Join(root, "ns"), nil)
	wantInsecure(t, err, "symlink")
}

// A missing directory below a symlink is not created through it: the
// symlink is refused before anything is made.
func TestDirRefusesSymlinkAboveRoot(t *testing.T) {
	link, target := symlinkedRoot(t)
	if os.Geteuid() == 0 {
		// Root's own symlinks are followed above the root (system links
		// such as /var -> private/var); another user's are not.
		if err := os.Lchown(link, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	_, err := OpenDir(filepath.Join(link, "a", "root", "ns"), &DirOptions{Create: true})
	wantInsecure(t, err, "symlink")
	wantNothingIn(t, target)
}

// Above the root, a symlink owned by root is followed, and the directories
// it leads to are checked like any other ancestor.
func TestDirFollowsRootSymlinkAboveRoot(t *testing.T) {
	requireRoot(t)
	link, target := symlinkedRoot(t)
	path := filepath.Join(link, "root", "ns")
	d, err := OpenDir(path, &DirOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if fi, err := os.Lstat(filepath.Join(target, "root", "ns")); err != nil || !fi.IsDir() {
		t.Fatalf("namespace not made at the symlink's target: %v", err)
	}
	// The target's ancestors are checked: one writable by others without
	// the sticky bit is refused.
	if err := os.Chmod(target, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err = OpenDir(path, nil)
	wantInsecure(t, err, "writable by others")
}

// The namespace directory itself inside a good root is never a symlink.
func TestDirRefusesSymlinkedNamespace(t *testing.T) {
	root := testproc.TempDir(t) // not there yet
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(filepath.Dir(root), "elsewhere")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(root, "ns")); err != nil {
		t.Fatal(err)
	}
	for _, create := range []bool{true, false} {
		_, err := OpenDir(filepath.Join(root, "ns"), &DirOptions{Create: create})
		wantInsecure(t, err, "symlink")
		wantNothingIn(t, target)
	}
}
