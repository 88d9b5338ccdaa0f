package shm

import (
	"errors"

	"golang.org/x/sys/unix"
)

const isLinux = true

// renameNoReplace renames old to name in dirfd in one system call,
// failing with EEXIST when name exists; handled reports false where the
// kernel or file system lacks it.
func renameNoReplace(dirfd int, old, name string) (handled bool, err error) {
	err = unix.Renameat2(dirfd, old, dirfd, name, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return false, nil
	}
	return true, err
}
