//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package shm

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// dirSys is an open directory descriptor plus what the checks need.
type dirSys struct {
	path string
	fd   int
	uid  int
	gid  int // -1 for a private namespace
}

func lookupGroup(g string) (int, error) {
	if id, err := strconv.Atoi(g); err == nil && id >= 0 {
		return id, nil
	}
	grp, err := user.LookupGroup(g)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(grp.Gid)
}

// DefaultRoot returns the directory under which namespaces live by default:
// /dev/shm/shmactor-<uid> on Linux (when /dev/shm exists), otherwise
// shmactor-<uid> under $XDG_RUNTIME_DIR or the user's temporary directory.
func DefaultRoot() (string, error) {
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() && isLinux {
		base = "/dev/shm"
	} else if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" && filepath.IsAbs(x) {
		base = x
	} else {
		base = os.TempDir()
	}
	return filepath.Join(base, "shmactor-"+strconv.Itoa(os.Geteuid())), nil
}

func (s *dirSys) close() error {
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}

func (s *dirSys) fileMode() uint32 {
	if s.gid >= 0 {
		return 0o660
	}
	return 0o600
}

// fileSys is an open segment or lease file.
type fileSys struct {
	fd   int
	path string
}

func (s *dirSys) join(name string) string { return filepath.Join(s.path, name) }

// create makes a new file with O_CREAT|O_EXCL|O_NOFOLLOW, fixes its mode
// with fchmod (so the umask cannot loosen or tighten it) and sizes it.
func (s *dirSys) create(name string, size int64) (*fileSys, error) {
	path := s.join(name)
	fd, err := unix.Openat(s.fd, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, s.fileMode())
	if err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("%w: create %s", ErrExist, path)
		}
		return nil, fmt.Errorf("shm: create %s: %w", path, err)
	}
	f := &fileSys{fd: fd, path: path}
	fail := func(err error) (*fileSys, error) {
		f.close()
		unix.Unlinkat(s.fd, name, 0)
		return nil, err
	}
	if s.gid >= 0 {
		if err := unix.Fchown(fd, -1, s.gid); err != nil {
			return fail(fmt.Errorf("shm: chown %s: %w", path, err))
		}
	}
	if err := unix.Fchmod(fd, s.fileMode()); err != nil {
		return fail(fmt.Errorf("shm: chmod %s: %w", path, err))
	}
	if size > 0 {
		if err := unix.Ftruncate(fd, size); err != nil {
			return fail(fmt.Errorf("shm: size %s to %d bytes: %w", path, size, err))
		}
	}
	return f, nil
}

// open opens an existing file without following symlinks and checks that
// it is a regular file with our owner (or group) and the exact mode.
func (s *dirSys) open(name string) (*fileSys, int64, error) {
	path := s.join(name)
	fd, err := unix.Openat(s.fd, name, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		switch {
		case errors.Is(err, unix.ENOENT):
			return nil, 0, fmt.Errorf("%w: open %s", ErrNotFound, path)
		case errors.Is(err, unix.ELOOP):
			return nil, 0, insecure(path, "is a symlink")
		}
		return nil, 0, fmt.Errorf("shm: open %s: %w", path, err)
	}
	f := &fileSys{fd: fd, path: path}
	size, err := s.checkFile(f)
	if err != nil {
		f.close()
		return nil, 0, err
	}
	return f, size, nil
}

func (s *dirSys) checkFile(f *fileSys) (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return 0, fmt.Errorf("shm: stat %s: %w", f.path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, insecure(f.path, "is not a regular file")
	}
	perm := uint32(st.Mode) & 0o7777
	if s.gid >= 0 {
		if int(st.Gid) != s.gid {
			return 0, insecure(f.path, "group %d, want %d", st.Gid, s.gid)
		}
	} else if int(st.Uid) != s.uid {
		return 0, insecure(f.path, "owned by uid %d, want %d", st.Uid, s.uid)
	}
	if perm != s.fileMode() {
		return 0, insecure(f.path, "mode %04o, want %04o", perm, s.fileMode())
	}
	return st.Size, nil
}

func (s *dirSys) remove(name string) error { return unix.Unlinkat(s.fd, name, 0) }

// age returns how long ago a file in the directory was last modified.
func (s *dirSys) age(name string) (time.Duration, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(s.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return 0, err
	}
	sec, nsec := st.Mtim.Unix()
	return time.Since(time.Unix(sec, nsec)), nil
}

// size returns the current size of a file in the directory.
func (s *dirSys) size(name string) (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(s.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return 0, err
	}
	return st.Size, nil
}

// publish gives a prepared file its final name without replacing anything
// that is already there (link fails with EEXIST), then drops the
// temporary name.
func (s *dirSys) publish(tmp, name string) error {
	err := unix.Linkat(s.fd, tmp, s.fd, name, 0)
	unix.Unlinkat(s.fd, tmp, 0)
	if errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("%w: publish %s", ErrExist, s.join(name))
	}
	if err != nil {
		return fmt.Errorf("shm: publish %s: %w", s.join(name), err)
	}
	return nil
}

func (s *dirSys) list() ([]string, error) {
	fd, err := unix.Dup(s.fd)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), s.path)
	defer f.Close()
	if _, err := f.Seek(0, 0); err != nil {
		return nil, err
	}
	return f.Readdirnames(-1)
}

// openLock opens a lease file read-only, without following symlinks.
func (s *dirSys) openLock(name string) (*fileSys, error) {
	fd, err := unix.Openat(s.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("%w: open %s", ErrNotFound, s.join(name))
		}
		return nil, fmt.Errorf("shm: open %s: %w", s.join(name), err)
	}
	return &fileSys{fd: fd, path: s.join(name)}, nil
}

func (f *fileSys) close() error {
	if f.fd < 0 {
		return nil
	}
	err := unix.Close(f.fd)
	f.fd = -1
	return err
}

func (f *fileSys) write(b []byte) error {
	_, err := unix.Pwrite(f.fd, b, 0)
	return err
}

func (f *fileSys) read(b []byte) (int, error) { return unix.Pread(f.fd, b, 0) }

// tryLock takes an exclusive flock without blocking. It reports false when
// another open file description holds the lock. The kernel drops the lock
// when the holder's last descriptor closes, in particular when it dies.
func (f *fileSys) tryLock() (bool, error) {
	err := unix.Flock(f.fd, unix.LOCK_EX|unix.LOCK_NB)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, unix.EWOULDBLOCK) || errors.Is(err, unix.EAGAIN) {
		return false, nil
	}
	return false, fmt.Errorf("shm: flock %s: %w", f.path, err)
}

func (f *fileSys) unlock() error { return unix.Flock(f.fd, unix.LOCK_UN) }

// mapping is a shared, read-write mapping of a whole file.
type mapping struct{ b []byte }

func (f *fileSys) mmap(size int) (*mapping, error) {
	b, err := unix.Mmap(f.fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("shm: mmap %s (%d bytes): %w", f.path, size, err)
	}
	return &mapping{b: b}, nil
}

func (m *mapping) bytes() []byte { return m.b }

func (m *mapping) unmap() error {
	if m.b == nil {
		return nil
	}
	err := unix.Munmap(m.b)
	m.b = nil
	return err
}

// protect makes b (page-aligned, inside a mapping) read-only, or
// readable and writable again.
func protect(b []byte, readOnly bool) error {
	prot := unix.PROT_READ | unix.PROT_WRITE
	if readOnly {
		prot = unix.PROT_READ
	}
	if err := unix.Mprotect(b, prot); err != nil {
		return fmt.Errorf("shm: mprotect %d bytes: %w", len(b), err)
	}
	return nil
}

// mapAnon maps size bytes of private, zeroed memory outside the Go heap.
func mapAnon(size int) ([]byte, error) {
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("shm: mmap %d private bytes: %w", size, err)
	}
	return b, nil
}

func unmapAnon(b []byte) error { return unix.Munmap(b) }

// rename renames old to name, refusing to replace a file (link, then
// unlink the old name).
func (s *dirSys) rename(old, name string) error {
	if handled, err := renameNoReplace(s.fd, old, name); handled {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("%w: rename %s", ErrExist, s.join(name))
		}
		if err != nil {
			return fmt.Errorf("shm: rename %s: %w", s.join(old), err)
		}
		return nil
	}
	if err := unix.Linkat(s.fd, old, s.fd, name, 0); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("%w: rename %s", ErrExist, s.join(name))
		}
		return fmt.Errorf("shm: rename %s: %w", s.join(old), err)
	}
	unix.Unlinkat(s.fd, old, 0)
	return nil
}

func (f *fileSys) mmapRO(size int) (*mapping, error) {
	b, err := unix.Mmap(f.fd, 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("shm: mmap %s (%d bytes, read-only): %w", f.path, size, err)
	}
	return &mapping{b: b}, nil
}
