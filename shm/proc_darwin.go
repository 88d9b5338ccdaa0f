package shm

import (
	"errors"

	"golang.org/x/sys/unix"
)

// procStartTime returns the start time of a process in microseconds since
// the epoch, from the kern.proc.pid sysctl.
func procStartTime(pid int) (uint64, error) {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return 0, err
	}
	if int(kp.Proc.P_pid) != pid {
		return 0, errors.New("shm: no such process")
	}
	tv := kp.Proc.P_starttime
	return uint64(tv.Sec)*1e6 + uint64(tv.Usec), nil
}
