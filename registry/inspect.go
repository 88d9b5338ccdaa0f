package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/shmactor/shmactor/shm"
)

// Snapshot is what a namespace holds, read from its directory without
// joining it: for tools that list, watch and clean namespaces.
type Snapshot struct {
	Namespace string
	Path      string
	Nodes     []NodeState
	Names     []Entry // exclusive names and shared ones (Entry.Shared), by name
	Files     int     // files in the directory
	Bytes     int64   // their total size
}

// NodeState is a node's record and whether its process lives.
type NodeState struct {
	Node
	Alive bool
}

// Namespaces returns the names of the namespaces under root (the
// directories holding a registry), sorted.
func Namespaces(root string) ([]string, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("registry: list namespaces in %s: %w", root, err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() || ValidNamespace(e.Name()) != nil {
			continue
		}
		if _, err := os.Lstat(filepath.Join(root, e.Name(), changelogName)); err == nil {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Inspect reads namespace ns under root: its nodes (alive or not), names
// and subscriptions, and the size of its files. It joins nothing and
// changes nothing. A namespace that is not there is ErrNotFound.
func Inspect(root, ns string) (*Snapshot, error) {
	d, err := openNamespace(root, ns)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return inspect(d, ns)
}

func openNamespace(root, ns string) (*shm.Dir, error) {
	if err := ValidNamespace(ns); err != nil {
		return nil, err
	}
	path := filepath.Join(root, ns)
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: no namespace %q in %s", ErrNotFound, ns, root)
	}
	return shm.OpenDir(path, nil)
}

func inspect(d *shm.Dir, ns string) (*Snapshot, error) {
	files, err := d.List()
	if err != nil {
		return nil, err
	}
	s := &Snapshot{Namespace: ns, Path: d.Path(), Files: len(files)}
	for _, f := range files {
		if fi, err := os.Lstat(filepath.Join(d.Path(), f)); err == nil {
			s.Bytes += fi.Size()
		}
		kind, id, _ := classify(f)
		switch kind {
		case fileNode:
			b, err := d.ReadFile(f, maxRecord)
			if err != nil {
				continue // gone meanwhile
			}
			n, err := ParseNode(b)
			if err != nil || n.ID != id {
				continue
			}
			alive, err := d.Alive(id, n.PID, n.Start)
			s.Nodes = append(s.Nodes, NodeState{Node: *n, Alive: alive || err != nil})
		case fileExclusive, fileShared:
			b, err := d.ReadFile(f, maxRecord)
			if err != nil {
				continue
			}
			if e, err := parseEntry(b); err == nil {
				s.Names = append(s.Names, *e)
			}
		}
	}
	sort.Slice(s.Nodes, func(i, j int) bool { return s.Nodes[i].Joined.Before(s.Nodes[j].Joined) })
	sort.Slice(s.Names, func(i, j int) bool {
		if s.Names[i].Name != s.Names[j].Name {
			return s.Names[i].Name < s.Names[j].Name
		}
		return s.Names[i].Node < s.Names[j].Node
	})
	return s, nil
}

// Clean removes namespace ns under root if no process lives in it: every
// node recorded is dead, and no lease is held. It holds the namespace's
// reap lock meanwhile, so no node reaps or is reaped under it. It
// reports whether it removed the namespace; a namespace with a live node
// is left alone (false, nil).
func Clean(root, ns string) (removed bool, err error) {
	d, err := openNamespace(root, ns)
	if err != nil {
		return false, err
	}
	defer d.Close()
	lock, err := d.OpenLock(reapLockName)
	if err != nil {
		return false, err
	}
	defer lock.Close()
	live, err := lockLive(d, lock)
	if err != nil {
		return false, fmt.Errorf("registry: clean %s: %w", ns, err)
	}
	if !live {
		return false, nil // another clean removed it meanwhile
	}
	defer lock.Unlock()
	s, err := inspect(d, ns)
	if err != nil {
		return false, err
	}
	for _, n := range s.Nodes {
		if n.Alive {
			return false, nil
		}
	}
	files, err := d.List()
	if err != nil {
		return false, err
	}
	for _, f := range files {
		if id, ok := shm.ParseLeaseName(f); ok {
			// A lease without a node record: a process in the middle of
			// joining, if its lease is held.
			if alive, err := d.Alive(id, 0, 0); alive || err != nil {
				return false, nil
			}
		}
	}
	for _, f := range files {
		if f == reapLockName {
			continue
		}
		if err := d.Remove(f); err != nil && !errors.Is(err, shm.ErrNotFound) {
			return false, fmt.Errorf("registry: clean %s: %w", ns, err)
		}
	}
	// The lock file goes while the lock is held: a process that was
	// waiting for it to join then finds it gone and starts afresh.
	if err := d.Remove(reapLockName); err != nil && !errors.Is(err, shm.ErrNotFound) {
		return false, fmt.Errorf("registry: clean %s: %w", ns, err)
	}
	lock.Unlock()
	lock.Close()
	path := d.Path()
	d.Close()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		if fi, serr := os.Lstat(path); serr == nil && fi.IsDir() {
			// A process joined afresh since the lock file went: the
			// namespace removed is gone, and the directory is the
			// new one's.
			return true, nil
		}
		return false, fmt.Errorf("registry: clean %s: %w", ns, err)
	}
	return true, nil
}
