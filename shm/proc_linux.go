package shm

import (
	"bytes"
	"errors"
	"os"
	"strconv"
)

// procStartTime returns the start time of a process in clock ticks since
// boot (field 22 of /proc/<pid>/stat), which together with the pid
// identifies one process even after the pid is reused.
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces and parentheses; the
	// fields after it start past the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("shm: malformed /proc stat")
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 {
		return 0, errors.New("shm: short /proc stat")
	}
	return strconv.ParseUint(string(f[19]), 10, 64)
}
