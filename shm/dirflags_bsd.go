//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package shm

import "golang.org/x/sys/unix"

// searchFlags opens the directories on the way to a namespace. Without
// Linux's O_PATH they are opened for reading, which needs read permission
// on them.
const searchFlags = unix.O_RDONLY
