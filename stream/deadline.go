package stream

import (
	"sync"
	"time"
)

// deadline is a read or write deadline: a channel closed when it passes,
// made anew when a later deadline (or none) replaces one that passed.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	passed chan struct{}
	onPass func() // called when the deadline passes, to wake waiters
}

func newDeadline() *deadline { return &deadline{passed: make(chan struct{})} }

// set sets the deadline to t; the zero t means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.passed // the timer fired: wait until it has closed passed
	}
	d.timer = nil
	closed := isClosed(d.passed)
	if t.IsZero() {
		if closed {
			d.passed = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.passed = make(chan struct{})
		}
		ch := d.passed
		d.timer = time.AfterFunc(dur, func() {
			close(ch)
			d.pass()
		})
		return
	}
	if !closed {
		close(d.passed)
		defer d.pass()
	}
}

func (d *deadline) pass() {
	if d.onPass != nil {
		d.onPass()
	}
}

// wait returns a channel closed when the deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.passed
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
