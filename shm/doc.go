// Package shm is the only part of shmactor that touches mapped memory:
// namespace directories ([Dir]), named shared-memory segments ([Segment]),
// process liveness ([Lease]), atomic words with cross-process wait and wake
// ([Word32], [Word64]), and a crash-tolerant multi-producer,
// multi-consumer queue of variable-length records ([Ring]).
//
// Everything above shm sees byte slices and typed handles; only this
// package (and the unexported helpers in mem.go) converts mapped memory
// into typed views, and every such view is bounds-checked by Go.
//
// # Rings
//
// A Ring is bounded and lock-free. Any number of goroutines in any number
// of processes may push and pop; each producer goroutine's records are
// taken in the order it pushed them. Push and Pop wait (spinning briefly,
// then parked on a futex) until a context is done; TryPush and TryPop do
// not wait; PushBatch and PopBatch move many records per operation.
//
// # Waiting
//
// A waiter spins for an adaptive budget, then parks. The budget of each
// handle and role follows the waits it has seen, as the Linux guest
// halt-polling governor does: a wait that parked but would have been
// caught by a longer spin doubles it (up to SetSpin's limit, DefaultSpin
// by default); a wait longer than the limit halves it; a spin that finds
// its thread descheduled stops at once and halves it. So a busy pair of
// processes spins and answers in microseconds, a handle that waits long
// parks at once (an idle node costs no CPU), and under CPU contention
// waiters leave the CPU to the threads they are waiting for.
//
//	d, _ := shm.OpenDir(path, &shm.DirOptions{Create: true})
//	r, _ := shm.CreateRing(d, "inbox", nil)   // shm.OpenRing in other processes
//	_ = r.Push(ctx, []byte("hello"))
//	rec, _ := r.Pop(ctx, nil)
//
// A process that dies in the middle of a push or pop never wedges a ring:
// each cell's control word names the process working on it, and whoever
// finds the word in its way checks that process's lease and finishes or
// undoes its work. A producer that stalls between claim and commit for
// longer than the ring's ReclaimAfter has its slot set aside; its late
// commit fails with ErrReclaimed and corrupts nothing. docs/shm-layout.md
// describes the layout and the protocol.
//
// # Memory ordering
//
// All atomic operations are those of sync/atomic: sequentially consistent,
// and synchronising across processes as across goroutines. Record bytes
// written before a commit are visible to the consumer that observes the
// commit; a consumer's reads of a record complete before the release that
// lets a producer reuse its cells.
//
// # Shared memory is untrusted
//
// Segments are validated when attached (magic, version, kind, sizes,
// geometry), every index and length read from shared memory is checked,
// and a segment truncated under a reader makes the operation return
// ErrFault instead of crashing the process.
//
// # Caveats
//
// Slices passed to PopBatch's callback are valid only until the callback
// returns. Bytes returned by Segment.Body are shared with other processes
// and may change at any time: copy, then validate. A closed Ring's mapping
// is released when the handle is no longer referenced.
package shm
