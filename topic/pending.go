package topic

import (
	"github.com/shmactor/shmactor/actor"

	"sync"
	"time"
)

// delivery is a publication waiting for a subscriber.
type delivery struct {
	subject string
	msg     any
	header  map[string]string // the publisher's headers, nil for none
	reply   *actor.PID        // where a reply goes, nil for none (Request)
	// part limits a publication (the NATS bridge's) to the plain
	// subscribers (partPlain) or to one queue group (partGroup, group).
	part  uint8
	group string
}

const (
	partAll uint8 = iota
	partPlain
	partGroup
)

// pending is a subscription's queue of deliveries: bounded, FIFO, with
// any number of pushers (the inbox pump, local publishers) and one taker
// (the subscription's goroutine). Local publishers wait for room (push);
// the inbox pump never waits: it adds past the limit (add), and the
// subscription's flow control keeps what goes past it bounded (flow.go).
type pending struct {
	mu     sync.Mutex
	buf    []delivery // ring of len power of two
	head   int
	n      int           // queued
	taken  int           // taken and not yet done
	limit  int           // on n + taken
	ready  chan struct{} // a token when deliveries are waiting
	room   chan struct{} // closed (and replaced) when the taker makes room
	closed bool
}

func newPending(limit int) *pending {
	size := 1
	for size < min(limit, 64) {
		size <<= 1
	}
	return &pending{buf: make([]delivery, size), limit: limit, ready: make(chan struct{}, 1), room: make(chan struct{})}
}

// push queues d. When the queue is full it waits for room until deadline
// (never, if deadline is zero). It reports false when d was not queued:
// full past the deadline, or closed.
func (p *pending) push(d delivery, wait time.Duration) (ok, closed bool) {
	var timer *time.Timer
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return false, true
		}
		if p.n+p.taken < p.limit {
			if p.n == len(p.buf) {
				p.grow()
			}
			p.buf[(p.head+p.n)&(len(p.buf)-1)] = d
			p.n++
			p.mu.Unlock()
			select {
			case p.ready <- struct{}{}:
			default:
			}
			if timer != nil {
				timer.Stop()
			}
			return true, false
		}
		room := p.room
		p.mu.Unlock()
		if wait <= 0 {
			return false, false
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		}
		select {
		case <-room:
		case <-timer.C:
			return false, false
		}
	}
}

// add queues d without waiting, past the limit if need be. It returns how
// many deliveries were queued or being handled before d, and false when
// the queue is closed.
func (p *pending) add(d delivery) (before int, ok bool) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, false
	}
	before = p.n + p.taken
	if p.n == len(p.buf) {
		p.grow()
	}
	p.buf[(p.head+p.n)&(len(p.buf)-1)] = d
	p.n++
	p.mu.Unlock()
	select {
	case p.ready <- struct{}{}:
	default:
	}
	return before, true
}

// grow doubles the ring. p.mu is held.
func (p *pending) grow() {
	buf := make([]delivery, 2*len(p.buf))
	for i := range p.n {
		buf[i] = p.buf[(p.head+i)&(len(p.buf)-1)]
	}
	p.buf, p.head = buf, 0
}

// take moves every waiting delivery to dst, waiting for one if there is
// none. It returns dst unchanged once the queue is closed. The deliveries
// count against the limit until done is called for each.
func (p *pending) take(dst []delivery) []delivery {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return dst
		}
		if p.n > 0 {
			for i := range p.n {
				j := (p.head + i) & (len(p.buf) - 1)
				dst = append(dst, p.buf[j])
				p.buf[j] = delivery{}
			}
			p.taken += p.n
			p.head, p.n = 0, 0
			p.mu.Unlock()
			return dst
		}
		p.mu.Unlock()
		<-p.ready
	}
}

// done marks one taken delivery handled, making room for another.
func (p *pending) done() {
	p.mu.Lock()
	p.taken--
	if !p.closed { // close has closed room for good
		close(p.room)
		p.room = make(chan struct{})
	}
	p.mu.Unlock()
}

// len returns how many deliveries are queued or being handled.
func (p *pending) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n + p.taken
}

// close ends the queue; it returns how many deliveries were waiting, now
// discarded. Waiting pushers and the taker return.
func (p *pending) close() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0
	}
	p.closed = true
	n := p.n
	clear(p.buf)
	p.n = 0
	close(p.room)
	select {
	case p.ready <- struct{}{}:
	default:
	}
	return n
}
