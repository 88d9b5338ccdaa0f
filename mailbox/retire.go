package mailbox

import (
	"sync"
	"sync/atomic"
	"time"
)

// retirements are functions waiting for the pump to have handed on every
// frame claimed in the inbox up to a position: what a node must keep for
// a peer that left (its key, its watches) until the frames it committed
// before leaving have been delivered.
type retirements struct {
	mu   sync.Mutex
	done uint64 // the inbox's head when the pump last finished handing on what it took
	ok   bool   // done is set: the pump has run
	wait []*retirement
}

type retirement struct {
	pos uint64
	fn  func()
}

// retireLimit is the longest a retirement waits for a pump that hands
// nothing on: a frame claimed by a process killed mid-push is set aside
// by the ring after its ReclaimAfter (2 s by default) without any record
// reaching the pump, so the pump may not see the position pass. A pump
// that is still handing messages on is waited for, however long it takes.
var retireLimit = 5 * time.Second

// drained records that the pump has handed on everything before pos,
// and runs the retirements that waited for it.
func (rt *retirements) drained(pos uint64) {
	rt.mu.Lock()
	rt.done, rt.ok = pos, true
	var run []func()
	keep := rt.wait[:0]
	for _, r := range rt.wait {
		if r.pos <= pos {
			run = append(run, r.fn)
		} else {
			keep = append(keep, r)
		}
	}
	clear(rt.wait[len(keep):])
	rt.wait = keep
	rt.mu.Unlock()
	for _, fn := range run {
		fn()
	}
}

// after runs fn once the pump has handed on everything before pos: at
// once if it has, else on the pump when it has, or once progress (a count
// of the pump's handler calls) has stood still for retireLimit.
func (rt *retirements) after(pos uint64, fn func(), progress func() uint64) {
	rt.mu.Lock()
	if !rt.ok || rt.done >= pos {
		rt.mu.Unlock()
		fn()
		return
	}
	var once sync.Once
	var ran atomic.Bool
	r := &retirement{pos: pos, fn: func() { once.Do(func() { ran.Store(true); fn() }) }}
	rt.wait = append(rt.wait, r)
	rt.mu.Unlock()
	limit := retireLimit
	last := progress()
	var check func()
	check = func() {
		if ran.Load() {
			return
		}
		if p := progress(); p != last {
			// Slow, but handing messages on: wait on.
			last = p
			time.AfterFunc(limit, check)
			return
		}
		rt.mu.Lock()
		for i, w := range rt.wait {
			if w == r {
				rt.wait = append(rt.wait[:i], rt.wait[i+1:]...)
				break
			}
		}
		rt.mu.Unlock()
		r.fn()
	}
	time.AfterFunc(limit, check)
}
