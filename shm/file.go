package shm

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Small files. Packages above shm keep records (node descriptions, name
// claims) as small files in the namespace directory; these helpers give
// them the same guarantees as segments: created through the directory
// descriptor with O_CREAT|O_EXCL|O_NOFOLLOW and the exact mode, published
// whole under their final name (never visible half-written), and read
// back only after the ownership, mode and type checks.

// WriteFile creates the file name with content data. The file is written
// under a temporary name and linked into place, so readers see all of it
// or nothing, and an existing file is never replaced: that is ErrExist,
// which makes WriteFile an atomic claim of name.
func (d *Dir) WriteFile(name string, data []byte) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := d.checkOpen(); err != nil {
		return err
	}
	defer d.ops.RUnlock()
	return d.writeFile(name, data)
}

// writeFile is WriteFile for a caller that holds off Close (d.ops held
// for reading): taking d.ops again would wait behind a Close that waits
// for the caller.
func (d *Dir) writeFile(name string, data []byte) error {
	tmp := d.tmpName()
	f, err := d.sys.create(tmp, 0)
	if err != nil {
		return err
	}
	err = f.write(data)
	f.close()
	if err != nil {
		d.sys.remove(tmp)
		return fmt.Errorf("shm: write %s: %w", filepath.Join(d.path, name), err)
	}
	return d.sys.publish(tmp, name)
}

// ReadFile reads the file name, refusing a symlink, a file with the wrong
// owner or mode, and one larger than max bytes.
func (d *Dir) ReadFile(name string, max int) ([]byte, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if err := d.checkOpen(); err != nil {
		return nil, err
	}
	defer d.ops.RUnlock()
	f, size, err := d.sys.open(name)
	if err != nil {
		return nil, err
	}
	defer f.close()
	if size > int64(max) {
		return nil, fmt.Errorf("%w: %s is %d bytes, at most %d expected", ErrCorrupt, filepath.Join(d.path, name), size, max)
	}
	b := make([]byte, size+1) // one more, to notice a file that grew
	n, err := f.read(b)
	if err != nil && n == 0 && size > 0 {
		return nil, fmt.Errorf("shm: read %s: %w", filepath.Join(d.path, name), err)
	}
	if n > max {
		return nil, fmt.Errorf("%w: %s grew past %d bytes", ErrCorrupt, filepath.Join(d.path, name), max)
	}
	return b[:n], nil
}

// tmpName returns a fresh temporary name that records the creating pid, so
// a reaper can tell a temporary file whose creator died from one being
// written.
func (d *Dir) tmpName() string {
	var rb [6]byte
	rand.Read(rb[:])
	return tmpPrefix + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(rb[:])
}

// RemoveStaleTemp removes temporary files left by processes that died
// while creating a segment or record, and temporary files older than
// maxAge whatever their creator. It returns how many it removed.
func (d *Dir) RemoveStaleTemp(maxAge time.Duration) (int, error) {
	if err := d.checkOpen(); err != nil {
		return 0, err
	}
	defer d.ops.RUnlock()
	names, err := d.sys.list()
	if err != nil {
		return 0, fmt.Errorf("shm: list %s: %w", d.path, err)
	}
	n := 0
	for _, name := range names {
		rest, ok := strings.CutPrefix(name, tmpPrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, _ := strconv.Atoi(pidStr)
		stale := pid <= 0 || !pidAlive(pid, 0)
		if !stale {
			if age, err := d.sys.age(name); err == nil && age > maxAge {
				stale = true
			}
		}
		if stale && d.sys.remove(name) == nil {
			n++
		}
	}
	return n, nil
}

// Lock is an advisory lock file in a directory, held with flock
// (LockFileEx on Windows). The kernel releases it when its holder dies.
type Lock struct {
	dir  *Dir
	name string
	f    *fileSys
	held bool
}

// OpenLock opens the lock file name, creating it if needed. Opening does
// not take the lock.
func (d *Dir) OpenLock(name string) (*Lock, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if err := d.checkOpen(); err != nil {
		return nil, err
	}
	defer d.ops.RUnlock()
	for range 3 {
		f, _, err := d.sys.open(name)
		if err == nil {
			return &Lock{dir: d, name: name, f: f}, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if err := d.writeFile(name, nil); err != nil && !errors.Is(err, ErrExist) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("shm: lock %s: created and removed under us three times", filepath.Join(d.path, name))
}

// TryLock takes the lock if it is free and reports whether it did.
func (l *Lock) TryLock() (bool, error) {
	if l.held {
		return true, nil
	}
	ok, err := l.f.tryLock()
	l.held = ok
	return ok, err
}

// Lock takes the lock, retrying until timeout; it returns an error naming
// the lock file if it cannot.
func (l *Lock) Lock(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	sleep := 50 * time.Microsecond
	for {
		ok, err := l.TryLock()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("shm: lock %s: still held by another process after %v", filepath.Join(l.dir.path, l.name), timeout)
		}
		time.Sleep(sleep)
		sleep = min(2*sleep, 5*time.Millisecond)
	}
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if !l.held {
		return nil
	}
	l.held = false
	return l.f.unlock()
}

// Close releases the lock (if held) and closes the file.
func (l *Lock) Close() error {
	l.Unlock()
	return l.f.close()
}
