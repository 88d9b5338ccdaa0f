//go:build !linux

package shm

const isLinux = false

// renameNoReplace is Linux's renameat2: elsewhere the caller links and
// unlinks.
func renameNoReplace(int, string, string) (handled bool, err error) { return false, nil }
