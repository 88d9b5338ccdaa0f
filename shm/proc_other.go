//go:build !linux && !darwin && !windows && !freebsd && !netbsd && !openbsd && !dragonfly

package shm

func procStartTime(pid int) (uint64, error) { return 0, ErrUnsupported }
