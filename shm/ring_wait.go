package shm

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
)

// ---- waiting ----

// await runs attempt until it stops returning errAgain: first once, then
// spinning for the handle's adaptive spin budget, then parked on the
// doorbell with a timeout, re-checking after every wake-up. It returns
// errAgain when ctx is done.
//
// The spin budget follows the waits this handle has seen, as the Linux
// guest halt-polling governor does (drivers/cpuidle/governors/haltpoll.c):
// a wait that had to park but ended within the longest spin (SetSpin)
// doubles the budget, since spinning a little longer would have caught
// it; a wait longer than that halves it, since spinning was wasted; and a
// spin that finds itself descheduled (a gap between two polls, when other
// threads want this CPU) stops at once and halves the budget, so under
// CPU contention waiters park early and leave the CPU to the threads they
// wait for. An idle handle's budget decays to zero: it parks at once and
// costs no CPU.
func (r *Ring) await(ctx context.Context, consumer bool, attempt func(slow bool) (bool, error)) error {
	if _, err := attempt(false); err != errAgain {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	// Before spinning or parking, let the goroutines this one has just
	// made runnable (the actor a pump delivered to, the caller a reply
	// completed) run on this P. Parking blocks the thread in the kernel
	// with the P still attached, and spinning keeps the P busy: either
	// way they would wait for another thread to be woken, or for sysmon
	// to take the P back, tens of microseconds.
	runtime.Gosched()
	if _, err := attempt(false); err != errAgain {
		return err
	}
	role := 0
	if consumer {
		role = 1
	}
	poll := &r.poll[role]
	limit := time.Duration(r.spin.Load())
	budget := min(time.Duration(poll.Load()), limit)
	start := time.Now()
	offCPU := false
	if budget > 0 {
		last := start
		for i := 1; ; i++ {
			if _, err := attempt(false); err != errAgain {
				return err
			}
			relax()
			if i%64 == 0 {
				now := time.Now()
				if now.Sub(last) > descheduled {
					// Another thread had this CPU: leave it to the
					// threads that have work.
					poll.Store(int64(budget / 2))
					offCPU = true
					break
				}
				last = now
				if now.Sub(start) > budget || ctx.Err() != nil {
					break
				}
				if i%1024 == 0 {
					runtime.Gosched()
				}
			}
		}
	}
	err := r.park(ctx, consumer, attempt)
	if err != errAgain && !offCPU {
		// (After a descheduled spin the budget is halved already; how
		// soon the wait then ended says nothing about spinning.)
		adapt(poll, budget, limit, time.Since(start))
	}
	return err
}

// Spin budget adaptation (see await).
const (
	// descheduled is a gap between two polls of a spin that only a thread
	// taken off its CPU shows: 64 polls take about a microsecond.
	descheduled = 20 * time.Microsecond
	// growFrom is the first budget a handle that parks too early gets.
	growFrom = 2 * time.Microsecond
	// shrinkTo is the budget below which a halved budget becomes zero.
	shrinkTo = time.Microsecond
)

// adapt sets the next spin budget after a wait that parked and lasted
// waited, having spun for budget, limit being the longest spin.
func adapt(poll *atomic.Int64, budget, limit, waited time.Duration) {
	switch {
	case waited <= limit && budget < limit:
		poll.Store(int64(min(max(2*budget, growFrom), limit)))
	case waited > limit && budget > 0:
		if budget /= 2; budget < shrinkTo {
			budget = 0
		}
		poll.Store(int64(budget))
	}
}

// park parks on the doorbell until attempt succeeds or ctx is done.
func (r *Ring) park(ctx context.Context, consumer bool, attempt func(slow bool) (bool, error)) error {
	door, park := r.prod, &r.my[oParkP]
	if consumer {
		door, park = r.cons, &r.my[oParkC]
	}
	var stop func() bool
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	for {
		if r.closed.Load() {
			return fmt.Errorf("%w: ring %s", ErrClosed, r.path())
		}
		if ctx.Err() != nil {
			return errAgain
		}
		if stop == nil && ctx.Done() != nil {
			// The callback may run after this call has returned; it
			// refers to the ring, which keeps the mapping alive.
			stop = context.AfterFunc(ctx, func() {
				if r.enter() != nil {
					return
				}
				var err error
				defer r.seg.guard(&err, faultOn())
				r.wakeAll()
			})
		}
		var err error
		// The owner entry counts our parked goroutines, so that a reaper
		// can take them off the sleeper count if this process dies.
		atomic.AddUint64(park, 1)
		door.Wait(func() (bool, time.Duration) {
			var hurry bool
			hurry, err = attempt(true)
			timeout := parkMax
			if hurry {
				timeout = parkHurry
			}
			if dl, ok := ctx.Deadline(); ok {
				timeout = min(timeout, time.Until(dl))
			}
			return err != errAgain, timeout
		})
		atomic.AddUint64(park, ^uint64(0))
		if err != errAgain {
			return err
		}
	}
}

// relax pauses a spinning waiter for a few tens of nanoseconds between
// polls, so that it does not pull the cache line it polls away from the
// process that is about to write it. (Go has no PAUSE instruction; a short
// loop on a private variable has the same effect on the line.)
func relax() {
	for i := 0; i < relaxSpins; i++ {
		relaxSink.Add(0)
	}
}

// relaxSpins is the length of relax's loop, chosen by measurement
// (docs/benchmarks.md): shorter lets the consumer steal the line between a
// producer's claim and commit, longer only adds latency.
const relaxSpins = 4

var relaxSink atomic.Int32

// wakeAll wakes every parked producer and consumer of the ring, in every
// process; they re-check and park again if there is nothing for them.
func (r *Ring) wakeAll() {
	r.cons.RingAlways(1 << 30)
	r.prod.RingAlways(1 << 30)
}
