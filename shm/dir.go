package shm

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// DirOptions controls OpenDir. The zero value opens an existing private
// directory.
type DirOptions struct {
	// Create makes the directory (and missing parents) when absent. New
	// directories are 0700, or 0770 with the group set when Group is given,
	// whatever the umask.
	Create bool

	// Group, when set, makes a group namespace: the directory is 0770 and
	// owned by this group (a name or a numeric id), and files in it are
	// 0660, so processes of different users in the group can share it.
	Group string
}

// Dir is a checked namespace directory that holds segments and lease
// files. All file operations go through the directory's descriptor, so the
// path cannot be swapped for a symlink after the checks.
//
// A Dir is safe for concurrent use.
type Dir struct {
	path  string
	group bool
	gid   int
	sys   *dirSys

	mu sync.Mutex
	// ops is held for reading by each call that uses the directory's
	// descriptor, and for writing by Close as it closes it.
	ops       sync.RWMutex
	closed    bool
	lease     *Lease
	leaseRefs int

	probes probeCache
}

// OpenDir opens the namespace directory at path, creating it (and missing
// parents) when opts.Create is set. It refuses (with an *InsecureError)
// a namespace directory or a parent of it (the root namespaces live in)
// that is a symlink, a symlink further up not owned by root, a directory
// owned by another user, a directory whose mode is not exactly 0700 (0770
// for a group namespace), and a path with an ancestor that other users
// could rename or replace. No element is created or opened through a
// symlink that fails these checks.
func OpenDir(path string, opts *DirOptions) (*Dir, error) {
	if opts == nil {
		opts = &DirOptions{}
	}
	if path == "" {
		return nil, fmt.Errorf("%w: empty directory path", ErrInvalidConfig)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("shm: open dir %s: %w", path, err)
	}
	d := &Dir{path: abs, gid: -1}
	if opts.Group != "" {
		gid, err := lookupGroup(opts.Group)
		if err != nil {
			return nil, fmt.Errorf("shm: open dir %s: group %q: %w", abs, opts.Group, err)
		}
		d.group, d.gid = true, gid
	}
	sys, err := openDirSys(abs, opts.Create, d.gid)
	if err != nil {
		return nil, err
	}
	d.sys = sys
	return d, nil
}

// Path returns the directory's absolute path.
func (d *Dir) Path() string { return d.path }

// Group reports whether this is a group namespace.
func (d *Dir) Group() bool { return d.group }

// Close releases the directory's descriptor and, once no ring handle uses
// it any more, the process's lease. Segments stay where they are.
func (d *Dir) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	var err error
	switch {
	case d.lease != nil && d.leaseRefs == 0:
		err = d.lease.release()
		d.lease = nil
	case d.lease != nil:
		// Ring handles still use the lease: it stays locked until the
		// last is gone, but its file is removed now, while the directory
		// is open to remove it from; others then tell this process's
		// life by its pid and start time (see Alive).
		// The descriptor closes below, so the last handle cannot remove
		// it later: it is marked unlinked even if this remove failed.
		d.sys.remove(LeaseName(d.lease.id))
		d.lease.unlinked = true
	}
	d.mu.Unlock()
	// Calls that began before Close finish before the descriptor goes.
	d.ops.Lock()
	e := d.sys.close()
	d.ops.Unlock()
	if err == nil {
		err = e
	}
	return err
}

// checkOpen fails with ErrClosed once Close has begun; otherwise it
// holds off Close, which would close the directory's descriptor under
// the caller's feet, until the caller's d.ops.RUnlock.
func (d *Dir) checkOpen() error {
	d.ops.RLock()
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		d.ops.RUnlock()
		return fmt.Errorf("%w: dir %s", ErrClosed, d.path)
	}
	return nil
}

// Remove unlinks the named file (a segment or lease file) from the
// directory. Processes that have it mapped keep their mapping.
func (d *Dir) Remove(name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := d.checkOpen(); err != nil {
		return err
	}
	defer d.ops.RUnlock()
	if err := d.sys.remove(name); err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("%w: remove %s", ErrNotFound, filepath.Join(d.path, name))
		}
		return fmt.Errorf("shm: remove %s: %w", filepath.Join(d.path, name), err)
	}
	return nil
}

// List returns the names of the files in the directory, sorted. Names that
// are not valid segment names are left out.
func (d *Dir) List() ([]string, error) {
	if err := d.checkOpen(); err != nil {
		return nil, err
	}
	defer d.ops.RUnlock()
	names, err := d.sys.list()
	if err != nil {
		return nil, fmt.Errorf("shm: list %s: %w", d.path, err)
	}
	out := names[:0]
	for _, n := range names {
		if ValidName(n) == nil && !strings.HasPrefix(n, tmpPrefix) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (d *Dir) fileMode() uint32 {
	if d.group {
		return 0o660
	}
	return 0o600
}

// tmpPrefix marks files that are being prepared and not yet published
// under their final name.
const tmpPrefix = "tmp-"
