package shm

import (
	"sync/atomic"
	"time"
)

// Word32 is an atomic handle on a uint32 in mapped memory. All operations
// are sequentially consistent, as sync/atomic's are, and are seen by every
// process that maps the segment. The zero Word32 is not usable.
type Word32 struct{ p *uint32 }

// Load atomically loads the word.
func (w Word32) Load() uint32 { return atomic.LoadUint32(w.p) }

// Store atomically stores v.
func (w Word32) Store(v uint32) { atomic.StoreUint32(w.p, v) }

// Add atomically adds d and returns the new value.
func (w Word32) Add(d uint32) uint32 { return atomic.AddUint32(w.p, d) }

// CompareAndSwap atomically replaces old with new and reports whether it did.
func (w Word32) CompareAndSwap(old, new uint32) bool {
	return atomic.CompareAndSwapUint32(w.p, old, new)
}

// Wait blocks while the word holds old, until Wake is called on it, the
// timeout passes, or a spurious wake-up; the caller re-checks its condition.
// On Linux it is a futex wait on the shared word (so it works across
// processes); elsewhere it polls with a growing sleep.
func (w Word32) Wait(old uint32, timeout time.Duration) { wait32(w.p, old, timeout) }

// Wake wakes up to n waiters blocked in Wait on this word, in any process.
// Where Wait polls, Wake does nothing.
func (w Word32) Wake(n int) { wake32(w.p, n) }

// Word64 is an atomic handle on an 8-byte-aligned uint64 in mapped memory.
type Word64 struct{ p *uint64 }

// Load atomically loads the word.
func (w Word64) Load() uint64 { return atomic.LoadUint64(w.p) }

// Store atomically stores v.
func (w Word64) Store(v uint64) { atomic.StoreUint64(w.p, v) }

// Add atomically adds d and returns the new value.
func (w Word64) Add(d uint64) uint64 { return atomic.AddUint64(w.p, d) }

// CompareAndSwap atomically replaces old with new and reports whether it did.
func (w Word64) CompareAndSwap(old, new uint64) bool {
	return atomic.CompareAndSwapUint64(w.p, old, new)
}
