package stream

import (
	"bytes"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/shmactor/shmactor/actor"
)

// conn is one end of a stream: a net.Conn whose bytes its stream actor
// receives from the peer's.
type conn struct {
	sys          *actor.System
	st           *state
	self         *actor.PID
	laddr, raddr *Addr
	rd, wd       *deadline
	stopped      chan struct{} // closed when the actor has stopped
	accepted     chan error    // dialing: the listener's answer

	wmu sync.Mutex // one Write (or CloseWrite) at a time, so chunks keep their order

	mu         sync.Mutex
	wake       chan struct{} // closed and replaced on every change below
	peer       *actor.PID
	listener   *actor.PID // dialing: watched until the answer
	buf        [][]byte   // received, not yet read; buf[0][off:] is next
	off        int
	buffered   int
	unacked    int // bytes read and not yet granted back
	credit     int // bytes this end may still send
	eof        bool
	peerClosed bool
	peerErr    error
	closed     bool
	wclosed    bool
}

func newConn(sys *actor.System, st *state) *conn {
	return &conn{
		sys: sys, st: st,
		rd: newDeadline(), wd: newDeadline(),
		stopped:  make(chan struct{}),
		accepted: make(chan error, 1),
		wake:     make(chan struct{}),
	}
}

// changed wakes the calls waiting on c; c.mu is held.
func (c *conn) changed() {
	close(c.wake)
	c.wake = make(chan struct{})
}

// spawn starts c's actor.
func (c *conn) spawn() error {
	c.self = c.sys.Root.SpawnPrefix(actor.PropsFromFunc(c.receive), "stream")
	if c.self == nil {
		return actor.ErrClosed
	}
	return nil
}

func (c *conn) err(op string, err error) error { return opErr(op, c.laddr, c.raddr, err) }

// Read reads what the peer wrote. It returns io.EOF once the peer has
// closed or half-closed and everything it sent has been read, and an
// error wrapping ErrPeerGone when the peer died instead.
func (c *conn) Read(p []byte) (int, error) {
	for {
		c.mu.Lock()
		dl := c.rd.wait()
		switch {
		case c.closed:
			c.mu.Unlock()
			return 0, c.err("read", net.ErrClosed)
		case isClosed(dl):
			c.mu.Unlock()
			return 0, c.err("read", os.ErrDeadlineExceeded)
		case c.buffered > 0:
			n, grant := c.take(p)
			peer := c.peer
			c.mu.Unlock()
			if grant > 0 {
				// A failed grant means the peer is going; its death
				// watch says so.
				_ = c.sys.Send(peer, &ctrl{Op: opCredit, N: int64(grant)})
			}
			return n, nil
		case len(p) == 0:
			c.mu.Unlock()
			return 0, nil
		case c.eof:
			c.mu.Unlock()
			return 0, io.EOF
		case c.peerErr != nil:
			err := c.peerErr
			c.mu.Unlock()
			return 0, c.err("read", err)
		}
		wake := c.wake
		c.mu.Unlock()
		select {
		case <-wake:
		case <-dl:
		}
	}
}

// take copies buffered bytes into p and returns how many, and how many
// to grant the writer; c.mu is held.
func (c *conn) take(p []byte) (n, grant int) {
	for n < len(p) && len(c.buf) > 0 {
		k := copy(p[n:], c.buf[0][c.off:])
		n += k
		c.off += k
		if c.off == len(c.buf[0]) {
			c.buf[0] = nil
			c.buf = c.buf[1:]
			c.off = 0
		}
	}
	c.buffered -= n
	c.unacked += n
	if c.unacked >= window/4 {
		grant, c.unacked = c.unacked, 0
	}
	return n, grant
}

// Write writes p to the peer, in chunks, as the peer's window allows: it
// waits while the peer has not read enough of what was sent before.
func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := 0
	for {
		if n == len(p) && n > 0 {
			// All of p has been sent: what happens to the stream
			// after that (the peer closing it) is no failure of this
			// Write.
			return n, nil
		}
		c.mu.Lock()
		dl := c.wd.wait()
		var err error
		switch {
		case c.closed:
			err = net.ErrClosed
		case c.wclosed:
			err = ErrWriteClosed
		case isClosed(dl):
			err = os.ErrDeadlineExceeded
		case c.peerErr != nil:
			err = c.peerErr
		case c.peerClosed:
			err = ErrPeerClosed
		}
		if err != nil {
			c.mu.Unlock()
			return n, c.err("write", err)
		}
		if n == len(p) {
			c.mu.Unlock()
			return n, nil
		}
		if c.credit > 0 {
			k := min(len(p)-n, c.credit, chunk)
			c.credit -= k
			peer := c.peer
			c.mu.Unlock()
			if err := c.sys.Send(peer, bytes.Clone(p[n:n+k])); err != nil {
				return n, c.err("write", err)
			}
			n += k
			continue
		}
		wake := c.wake
		c.mu.Unlock()
		select {
		case <-wake:
		case <-dl:
		}
	}
}

// CloseWrite half-closes the stream: the peer's Read returns io.EOF after
// what was written, and this end can still read. It waits for a Write
// under way.
func (c *conn) CloseWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return c.err("close", net.ErrClosed)
	case c.wclosed:
		c.mu.Unlock()
		return nil
	}
	c.wclosed = true
	c.changed()
	peer, tell := c.peer, c.peerErr == nil && !c.peerClosed
	c.mu.Unlock()
	if tell {
		if err := c.sys.Send(peer, &ctrl{Op: opFin}); err != nil {
			return c.err("close", err)
		}
	}
	return nil
}

// Close closes both directions: calls waiting on c fail with
// net.ErrClosed, the peer's Read returns io.EOF after what was sent, and
// its Write fails with ErrPeerClosed. The stream's actor stops and stops
// watching the peer.
func (c *conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.err("close", net.ErrClosed)
	}
	c.closed = true
	c.buf, c.buffered = nil, 0
	c.changed()
	peer, tell := c.peer, c.peerErr == nil && !c.peerClosed
	c.mu.Unlock()
	if tell && peer != nil {
		_ = c.sys.Send(peer, &ctrl{Op: opClose}) // a peer that is gone needs no telling
	}
	c.stop()
	c.st.forget(c, nil)
	return nil
}

// stop stops c's actor and waits for it, a while.
func (c *conn) stop() {
	c.sys.Root.Send(c.self, stopConn{})
	select {
	case <-c.stopped:
	case <-time.After(time.Second):
	}
}

func (c *conn) LocalAddr() net.Addr  { return c.laddr }
func (c *conn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets the read and write deadlines.
func (c *conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the deadline for Read calls, waiting and future.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.rd.set(t)
	return nil
}

// SetWriteDeadline sets the deadline for Write calls, waiting and future.
func (c *conn) SetWriteDeadline(t time.Time) error {
	c.wd.set(t)
	return nil
}
