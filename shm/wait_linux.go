package shm

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// futex operations without FUTEX_PRIVATE_FLAG: the word lives in a
// MAP_SHARED mapping and waiters in other processes must be found by the
// kernel through the page, not through this process's address space.
const (
	futexWait = 0
	futexWake = 1
)

// wait32 parks on *p while it holds old, for at most timeout. x/sys/unix has
// no futex wrapper, so this is one of the two raw syscalls in the package.
func wait32(p *uint32, old uint32, timeout time.Duration) {
	if timeout <= 0 {
		return
	}
	ts := unix.NsecToTimespec(int64(timeout))
	// EAGAIN (value changed), EINTR and ETIMEDOUT all mean "re-check".
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(p)), futexWait, uintptr(old), uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// wake32 wakes up to n waiters on *p in any process.
func wake32(p *uint32, n int) {
	if n <= 0 {
		return
	}
	if n > 1<<30 {
		n = 1 << 30
	}
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(p)), futexWake, uintptr(n), 0, 0, 0)
}

// hasFutex reports whether Wait really parks (and Wake really wakes).
const hasFutex = true
