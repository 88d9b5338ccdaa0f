//go:build freebsd || netbsd || openbsd || dragonfly

package shm

import "golang.org/x/sys/unix"

// procStartTime reports 0 (unknown) for a process that exists: on these
// systems only the pid is checked, and the lease lock remains the authority.
func procStartTime(pid int) (uint64, error) {
	if err := unix.Kill(pid, 0); err != nil && err != unix.EPERM {
		return 0, err
	}
	return 0, nil
}
