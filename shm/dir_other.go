//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly && !windows

package shm

import "time"

// Platforms without mmap support in golang.org/x/sys: everything builds
// and every operation returns ErrUnsupported.

type dirSys struct{}

type fileSys struct{}

type mapping struct{}

func lookupGroup(string) (int, error) { return 0, ErrUnsupported }

// DefaultRoot returns ErrUnsupported on this platform.
func DefaultRoot() (string, error) { return "", ErrUnsupported }

func openDirSys(string, bool, int) (*dirSys, error) { return nil, ErrUnsupported }

func (*dirSys) close() error                           { return nil }
func (*dirSys) create(string, int64) (*fileSys, error) { return nil, ErrUnsupported }
func (*dirSys) open(string) (*fileSys, int64, error)   { return nil, 0, ErrUnsupported }
func (*dirSys) remove(string) error                    { return ErrUnsupported }
func (*dirSys) age(string) (time.Duration, error)      { return 0, ErrUnsupported }
func (*dirSys) size(string) (int64, error)             { return 0, ErrUnsupported }
func (*dirSys) publish(string, string) error           { return ErrUnsupported }
func (*dirSys) list() ([]string, error)                { return nil, ErrUnsupported }
func (*dirSys) openLock(string) (*fileSys, error)      { return nil, ErrUnsupported }

func (*fileSys) close() error               { return nil }
func (*fileSys) write([]byte) error         { return ErrUnsupported }
func (*fileSys) read([]byte) (int, error)   { return 0, ErrUnsupported }
func (*fileSys) tryLock() (bool, error)     { return false, ErrUnsupported }
func (*fileSys) unlock() error              { return ErrUnsupported }
func (*fileSys) mmap(int) (*mapping, error) { return nil, ErrUnsupported }
func (*mapping) bytes() []byte              { return nil }
func (*mapping) unmap() error               { return nil }

func protect([]byte, bool) error            { return ErrUnsupported }
func mapAnon(int) ([]byte, error)           { return nil, ErrUnsupported }
func unmapAnon([]byte) error                { return nil }
func (*dirSys) rename(string, string) error { return ErrUnsupported }

func (*fileSys) mmapRO(int) (*mapping, error) { return nil, ErrUnsupported }
