//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package shm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Opening a namespace directory: the walk from "/" and the checks on the
// way.

func openDirSys(path string, create bool, gid int) (*dirSys, error) {
	s := &dirSys{path: path, fd: -1, uid: os.Geteuid(), gid: gid}
	base := filepath.Base(path)
	if !filepath.IsAbs(path) || base == "/" || base == "." || base == ".." {
		return nil, fmt.Errorf("%w: directory path %q has no final element", ErrInvalidConfig, path)
	}
	fd, err := s.walk(create)
	if err != nil {
		return nil, err
	}
	s.fd = fd
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		s.close()
		return nil, fmt.Errorf("shm: stat dir %s: %w", path, err)
	}
	if err := s.checkDir(path, &st); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// maxSymlinks bounds the symlinks followed above a namespace's root, as
// the kernel bounds them in a path lookup.
const maxSymlinks = 40

// walk opens the namespace directory s.path one element at a time from
// "/", each with fstatat and openat below the descriptor of its checked
// parent, so the kernel never resolves a symlink behind the checks:
//
//   - the namespace directory and its parent, the root (such as
//     /dev/shm/shmactor-<uid>), must be directories, never symlinks:
//     another user can plant the root before the owner's first Join;
//   - above the root, a symlink is followed only when root owns it (system
//     links such as macOS's /var -> private/var); another user's could
//     lead anywhere;
//   - every directory from "/" down to the root is checked as an ancestor
//     (checkAncestor), on the directory the descriptor holds;
//   - with create, missing directories are made with mkdirat: 0700 (0750
//     for a group namespace's parents, 0770 for the group namespace).
//
// It returns a read-only descriptor of the namespace directory.
func (s *dirSys) walk(create bool) (int, error) {
	elems := splitPath(s.path)
	own := min(2, len(elems)) // the last elements: the root and the namespace
	links := 0
restart:
	fd, err := unix.Open("/", searchFlags|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("shm: open dir /: %w", err)
	}
	cur := "/" // the directory fd holds, with no symlink in it
	for i := 0; i < len(elems); i++ {
		name := elems[i]
		if name == ".." { // from a symlink's target
			unix.Close(fd)
			elems = append(splitPath(filepath.Dir(cur)), elems[i+1:]...)
			goto restart
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("shm: check %s: %w", cur, err)
		}
		if err := s.checkAncestor(cur, &st); err != nil {
			unix.Close(fd)
			return -1, err
		}
		last := i == len(elems)-1
		mine := i >= len(elems)-own
		shown := filepath.Join(cur, name)
		if mine { // named as the caller named it
			shown = s.path
			if !last {
				shown = filepath.Dir(s.path)
			}
		}
		err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, unix.ENOENT) && create {
			if err = s.mkdirat(fd, name, shown, last); err == nil {
				err = unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
			}
		}
		if err != nil {
			unix.Close(fd)
			return -1, s.walkError(shown, err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
		case unix.S_IFLNK:
			if mine {
				unix.Close(fd)
				return -1, insecure(shown, "is a symlink")
			}
			if st.Uid != 0 {
				unix.Close(fd)
				return -1, insecure(shown, "is a symlink owned by uid %d (above the namespace root only root's symlinks are followed)", st.Uid)
			}
			if links++; links > maxSymlinks {
				unix.Close(fd)
				return -1, fmt.Errorf("shm: open dir %s: %w", s.path, unix.ELOOP)
			}
			target, err := readlinkat(fd, name)
			unix.Close(fd)
			if err != nil {
				return -1, fmt.Errorf("shm: open dir %s: readlink %s: %w", s.path, shown, err)
			}
			rest := elems[i+1:]
			if filepath.IsAbs(target) {
				elems = splitPath(target)
			} else {
				elems = append(splitPath(cur), splitPath(target)...)
			}
			elems = append(elems, rest...)
			goto restart
		default:
			unix.Close(fd)
			if mine {
				return -1, insecure(shown, "is not a directory")
			}
			return -1, insecure(shown, "ancestor is not a directory")
		}
		flags := searchFlags
		if last {
			flags = unix.O_RDONLY
		}
		nfd, err := unix.Openat(fd, name, flags|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		switch {
		case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
			// Swapped for a symlink or a file since the fstatat.
			return -1, insecure(shown, "was replaced while being opened")
		case err != nil:
			return -1, s.walkError(shown, err)
		}
		fd, cur = nfd, filepath.Join(cur, name)
	}
	return fd, nil
}

// walkError reports a failed lookup of the element at path on the way to
// the namespace.
func (s *dirSys) walkError(path string, err error) error {
	if errors.Is(err, unix.ENOENT) {
		err = ErrNotFound
	}
	if path == s.path {
		return fmt.Errorf("shm: open dir %s: %w", s.path, err)
	}
	return fmt.Errorf("shm: open dir %s: %s: %w", s.path, path, err)
}

// splitPath returns the elements of a path, leaving out empty ones and
// ".", keeping "..".
func splitPath(p string) []string {
	var out []string
	for _, e := range strings.Split(p, "/") {
		if e != "" && e != "." {
			out = append(out, e)
		}
	}
	return out
}

// readlinkat returns the target of the symlink name in directory dirfd.
func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		b := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, b)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(b[:n]), nil
		}
	}
}

// checkDir enforces decision 5 on the namespace directory itself.
func (s *dirSys) checkDir(path string, st *unix.Stat_t) error {
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return insecure(path, "is not a directory")
	}
	perm := uint32(st.Mode) & 0o777
	if s.gid >= 0 {
		if int(st.Gid) != s.gid {
			return insecure(path, "group %d, want %d", st.Gid, s.gid)
		}
		if perm != 0o770 {
			return insecure(path, "mode %04o, want 0770", perm)
		}
		return nil
	}
	if int(st.Uid) != s.uid {
		return insecure(path, "owned by uid %d, want %d", st.Uid, s.uid)
	}
	if perm != 0o700 {
		return insecure(path, "mode %04o, want 0700", perm)
	}
	return nil
}

// checkAncestor checks a directory on the way to the namespace. It must
// be owned by root or by us and must not be writable by others unless it
// has the sticky bit (like /tmp or /dev/shm), so nobody else can rename
// or replace a directory on the way to the namespace.
func (s *dirSys) checkAncestor(p string, st *unix.Stat_t) error {
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return insecure(p, "ancestor is not a directory")
	}
	ownerOK := st.Uid == 0 || int(st.Uid) == s.uid
	if !ownerOK && s.gid >= 0 && int(st.Gid) == s.gid {
		ownerOK = true // a group namespace's shared parent, made by a member
	}
	if !ownerOK {
		return insecure(p, "ancestor owned by uid %d", st.Uid)
	}
	sticky := st.Mode&unix.S_ISVTX != 0
	if st.Mode&0o002 != 0 && !sticky {
		return insecure(p, "ancestor is writable by others (mode %04o)", st.Mode&0o7777)
	}
	if st.Mode&0o020 != 0 && !sticky && !(s.gid >= 0 && int(st.Gid) == s.gid) && st.Gid != 0 {
		return insecure(p, "ancestor is writable by group %d (mode %04o)", st.Gid, st.Mode&0o7777)
	}
	return nil
}

// mkdirat creates the directory name in pfd and fixes its mode (and
// group) through a descriptor, so the umask cannot loosen it: 0700 for a
// private namespace and its parents; for a group namespace 0770 for the
// namespace (ns) and 0750 for its parents. A directory that appears
// meanwhile is left for the caller to check.
func (s *dirSys) mkdirat(pfd int, name, path string, ns bool) error {
	mode := uint32(0o700)
	if s.gid >= 0 {
		mode = 0o750
		if ns {
			mode = 0o770
		}
	}
	err := unix.Mkdirat(pfd, name, mode)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("shm: mkdir %s: %w", path, err)
	}
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("shm: open new dir %s: %w", path, err)
	}
	defer unix.Close(fd)
	if s.gid >= 0 {
		if err := unix.Fchown(fd, -1, s.gid); err != nil {
			return fmt.Errorf("shm: chown %s: %w", path, err)
		}
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return fmt.Errorf("shm: chmod %s: %w", path, err)
	}
	return nil
}
