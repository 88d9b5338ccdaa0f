package shm

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Doorbell lets processes sleep until another process has something for
// them, without a system call on the signalling side while nobody sleeps.
// It is two 32-bit words in a segment: a sequence number that waiters park
// on (a futex on Linux) and a count of announced sleepers.
//
// A waiter announces itself, re-checks its condition, and only then parks;
// a signaller first publishes its change, then rings, and rings (with a
// system call) only when the sleeper count is non-zero. Both steps are
// sequentially consistent atomics, so either the signaller sees the
// sleeper or the sleeper's re-check sees the change: no wake-up is lost.
// Every park has a timeout, because a signaller may die.
type Doorbell struct {
	seq, sleepers *uint32
}

// DoorbellSize is the number of bytes a Doorbell occupies.
const DoorbellSize = 8

// Doorbell returns the doorbell whose two words are at byte offset off of
// the body (8-byte aligned). Keep it on a cache line of its own.
func (s *Segment) Doorbell(off int) (Doorbell, error) {
	if off < 0 || off%8 != 0 || off+DoorbellSize > len(s.body) {
		return Doorbell{}, fmt.Errorf("%w: segment %s: doorbell at offset %d (body %d bytes, 8-byte alignment)", ErrInvalidConfig, s.name, off, len(s.body))
	}
	w := u32s(s.body[off : off+DoorbellSize])
	return Doorbell{seq: &w[0], sleepers: &w[1]}, nil
}

// Wait announces the caller as a sleeper, then calls check. If check
// reports done, Wait returns true at once. Otherwise Wait parks until the
// doorbell rings or the duration check returned passes, and returns false;
// the caller re-checks.
func (d Doorbell) Wait(check func() (done bool, park time.Duration)) bool {
	s := atomic.LoadUint32(d.seq)
	atomic.AddUint32(d.sleepers, 1)
	defer atomic.AddUint32(d.sleepers, ^uint32(0))
	done, park := check()
	if done {
		return true
	}
	wait32(d.seq, s, park)
	return false
}

// Ring wakes up to n parked waiters, in any process, if any have
// announced themselves; with no sleepers it is one atomic load.
func (d Doorbell) Ring(n int) {
	if atomic.LoadUint32(d.sleepers) != 0 {
		d.RingAlways(n)
	}
}

// RingAlways wakes up to n waiters even if none has announced itself yet,
// for shutdown and cancellation.
func (d Doorbell) RingAlways(n int) {
	atomic.AddUint32(d.seq, 1)
	wake32(d.seq, n)
}

// Sleepers returns the number of announced sleepers.
func (d Doorbell) Sleepers() uint32 { return atomic.LoadUint32(d.sleepers) }

// forget removes k sleepers that will never wake (their process died).
func (d Doorbell) forget(k uint64) {
	for k != 0 {
		old := atomic.LoadUint32(d.sleepers)
		if atomic.CompareAndSwapUint32(d.sleepers, old, old-uint32(min(uint64(old), k))) {
			return
		}
	}
}
