package shm

import "golang.org/x/sys/unix"

// searchFlags opens the directories on the way to a namespace: O_PATH
// needs only search permission on them, as a path lookup does.
const searchFlags = unix.O_PATH
