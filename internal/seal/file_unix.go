//go:build unix

package seal

import (
	"fmt"
	"os"
	"syscall"
)

// readProtected reads a key file after checking that it is a regular file
// owned by us and, for a secret, mode 0600; a public file may be readable
// by others but not writable.
func readProtected(path string, secret bool) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file (%v)", ErrKeyFile, path, fi.Mode().Type())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("%w: %s is owned by uid %d, not by us (%d)", ErrKeyFile, path, st.Uid, os.Geteuid())
	}
	perm := fi.Mode().Perm()
	if secret && perm != 0o600 {
		return nil, fmt.Errorf("%w: %s has mode %04o, want 0600", ErrKeyFile, path, perm)
	}
	if !secret && perm&0o022 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o: writable by others", ErrKeyFile, path, perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	return b, nil
}
