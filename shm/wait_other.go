//go:build !linux

package shm

import (
	"sync/atomic"
	"time"
)

// The portable fallback: no cross-process wait primitive is used, so a
// waiter polls the word with a sleep that grows from 20µs to 1ms. Wake is a
// no-op; a waiter notices the change at its next poll.

func wait32(p *uint32, old uint32, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	sleep := 20 * time.Microsecond
	for atomic.LoadUint32(p) == old {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		time.Sleep(min(sleep, left))
		if sleep < time.Millisecond {
			sleep *= 2
		}
	}
}

func wake32(p *uint32, n int) {}

const hasFutex = false
