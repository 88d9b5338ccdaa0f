package topic

import (
	"fmt"
	"sync"
	"time"

	"github.com/shmactor/shmactor/actor"
)

// SlowConsumer is published on the System's EventStream when
// publications are dropped because a subscriber does not keep up. Events
// for one subscription (or one node) come at most every
// SlowConsumerInterval; Dropped counts every drop, so none goes
// unreported.
type SlowConsumer struct {
	// Subject is the subject of the latest drop.
	Subject string
	// Pattern and Group are the subscription's; both are empty when the
	// publisher could not hand the publication to Node (its inbox stayed
	// full), rather than a subscription on this node falling behind.
	Pattern, Group string
	// Node is the node the publication was for: this node for a
	// subscription of its own, 0 for a queue group's work queue.
	Node uint64
	// Policy is the policy that dropped.
	Policy Policy
	// Dropped is how many publications were dropped since the previous
	// event for the same subscription or node; Total since it began.
	Dropped, Total uint64
}

// String returns a readable name.
func (e *SlowConsumer) String() string {
	who := fmt.Sprintf("node %016x", e.Node)
	if e.Pattern != "" {
		who = fmt.Sprintf("subscription %q", e.Pattern)
		if e.Group != "" {
			who += fmt.Sprintf(" (group %q)", e.Group)
		}
	}
	return fmt.Sprintf("topic: slow consumer: %s: %d publications dropped (%d in all), last on %q, policy %v", who, e.Dropped, e.Total, e.Subject, e.Policy)
}

// SlowConsumerInterval is the least time between two SlowConsumer events
// for one subscription or node.
const SlowConsumerInterval = 100 * time.Millisecond

// reporter publishes SlowConsumer events, throttled per key.
type reporter struct {
	sys     *actor.System
	mu      sync.Mutex
	keys    map[slowKey]*slowState
	stopped bool
}

type slowKey struct {
	sub  *Subscription
	node uint64
}

type slowState struct {
	last        time.Time
	total, sent uint64
	latest      SlowConsumer
	timer       *time.Timer
}

func (r *reporter) init(sys *actor.System) {
	r.sys = sys
	r.keys = map[slowKey]*slowState{}
}

// drop counts one drop and publishes an event now, or after the interval
// when one was published less than an interval ago.
func (r *reporter) drop(ev SlowConsumer, sub *Subscription) {
	r.mu.Lock()
	k := slowKey{sub: sub, node: ev.Node}
	st := r.keys[k]
	if st == nil {
		st = &slowState{}
		r.keys[k] = st
	}
	st.total++
	st.latest = ev
	if st.timer != nil || r.stopped {
		r.mu.Unlock()
		return // an event is due
	}
	if wait := SlowConsumerInterval - time.Since(st.last); wait > 0 {
		st.timer = time.AfterFunc(wait, func() { r.flush(k) })
		r.mu.Unlock()
		return
	}
	out := st.event()
	r.mu.Unlock()
	r.sys.EventStream.Publish(out)
}

func (r *reporter) flush(k slowKey) {
	r.mu.Lock()
	st := r.keys[k]
	if st == nil || st.timer == nil || r.stopped {
		r.mu.Unlock()
		return
	}
	st.timer = nil
	out := st.event()
	r.mu.Unlock()
	r.sys.EventStream.Publish(out)
}

// event makes st's next event. r.mu is held.
func (st *slowState) event() *SlowConsumer {
	ev := st.latest
	ev.Dropped, ev.Total = st.total-st.sent, st.total
	st.sent, st.last = st.total, time.Now()
	return &ev
}

// stop publishes what is due and stops the timers.
func (r *reporter) stop() {
	r.mu.Lock()
	var due []*SlowConsumer
	for _, st := range r.keys {
		if st.timer != nil {
			st.timer.Stop()
			st.timer = nil
			due = append(due, st.event())
		}
	}
	r.stopped = true
	r.mu.Unlock()
	for _, ev := range due {
		r.sys.EventStream.Publish(ev)
	}
}

// forget publishes what is due for sub and drops its state.
func (r *reporter) forget(sub *Subscription) {
	r.mu.Lock()
	var due []*SlowConsumer
	for k, st := range r.keys {
		if k.sub != sub {
			continue
		}
		if st.timer != nil && st.timer.Stop() && !r.stopped {
			due = append(due, st.event())
		}
		delete(r.keys, k)
	}
	r.mu.Unlock()
	for _, ev := range due {
		r.sys.EventStream.Publish(ev)
	}
}
