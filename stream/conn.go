package stream

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/seal"
	"github.com/shmactor/shmactor/shm"
)

// conn is one end of a stream: a net.Conn over a pipe whose one
// direction it writes and whose other it reads.
type conn struct {
	sys          *actor.System
	st           *state
	self         *actor.PID
	laddr, raddr *Addr
	rd, wd       *deadline
	stopped      chan struct{} // closed when the actor has stopped
	accepted     chan error    // dialing: the listener's answer
	dialer       bool

	// Set before the conn is handed to the user, then read-only.
	pipe    *shm.Pipe
	in, out *shm.PipeDir
	aead    cipher.AEAD // nil: plaintext

	rmu     sync.Mutex // one Read at a time: a direction has one reader
	nonceIn [12]byte   // direction byte, then the frame's sequence number
	pending []byte     // opened, not yet read
	scratch []byte

	wmu      sync.Mutex // one Write (or CloseWrite) at a time
	nonceOut [12]byte

	closed   atomic.Bool
	wclosed  atomic.Bool
	peerDown atomic.Int32 // 0 up; peerStopped; peerDied
	broken   atomic.Pointer[error]

	mu       sync.Mutex
	unmapped bool       // the pipe is closed: nothing may touch it
	peer     *actor.PID // the other end's actor
	listener *actor.PID // dialing: watched until the answer
}

const (
	peerStopped = 1 // its actor stopped: it closed the stream
	peerDied    = 2 // its process died or left without closing
)

// spin is how long a Read or Write polls before it parks; park is the
// longest it parks between checks (every change also rings the
// doorbell it parks on).
const (
	spin = 20 * time.Microsecond
	park = 250 * time.Millisecond
)

func newConn(sys *actor.System, st *state) *conn {
	c := &conn{
		sys: sys, st: st,
		rd: newDeadline(), wd: newDeadline(),
		stopped:  make(chan struct{}),
		accepted: make(chan error, 1),
	}
	c.rd.onPass, c.wd.onPass = c.kick, c.kick
	return c
}

// attach makes the pipe c's: dir is the direction c writes.
func (c *conn) attach(p *shm.Pipe, dir int, key []byte, suite seal.Suite) error {
	if key != nil {
		a, err := seal.NewAEAD(suite, key)
		if err != nil {
			return err
		}
		c.aead = a
		c.scratch = make([]byte, chunk+a.Overhead())
	}
	c.pipe, c.out, c.in = p, p.Dir(dir), p.Dir(1-dir)
	c.nonceOut[0], c.nonceIn[0] = byte(dir), byte(1-dir)
	return nil
}

// kick wakes c's Read and Write wherever they wait, to re-check.
func (c *conn) kick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pipe != nil && !c.unmapped {
		// Under Do: a pipe whose file was truncated faults.
		c.pipe.Do(func() error {
			c.in.DataBell().RingAlways(1 << 30)
			c.out.SpaceBell().RingAlways(1 << 30)
			return nil
		})
	}
}

// await polls soon (or ready, when soon is nil) for a while, then parks
// on bell until it rings (or park passes) and ready holds. A writer polls
// for room for its frame but parks until half the pipe is free, so that
// a reader that is behind wakes it once per half pipe, not per frame.
// A fault in the pipe's mapping (its file truncated) ends the wait: the
// caller's next ReadFrame or WriteFrame returns it.
func await(p *shm.Pipe, bell shm.Doorbell, soon, ready func() bool) {
	p.Do(func() error {
		awaitBell(bell, soon, ready)
		return nil
	})
}

func awaitBell(bell shm.Doorbell, soon, ready func() bool) {
	if soon == nil {
		soon = ready
	}
	start := time.Now()
	for i := 1; ; i++ {
		if soon() {
			return
		}
		if i%16 == 0 && time.Since(start) > spin {
			break
		}
		runtime.Gosched()
	}
	for !bell.Wait(func() (bool, time.Duration) { return ready(), park }) {
		if ready() {
			return
		}
	}
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

// next advances a nonce to the next frame's: the frames of a direction
// are numbered from 1, so no two frames of a stream share a nonce.
func next(n *[12]byte) []byte {
	binary.LittleEndian.PutUint64(n[4:], binary.LittleEndian.Uint64(n[4:])+1)
	return n[:]
}

// Read reads what the peer wrote. It returns io.EOF once the peer has
// closed or half-closed and everything it sent has been read, and an
// error wrapping ErrPeerGone when the peer died instead.
func (c *conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		dl := c.rd.wait()
		switch {
		case c.closed.Load():
			return 0, c.err("read", net.ErrClosed)
		case isClosed(dl):
			return 0, c.err("read", os.ErrDeadlineExceeded)
		case len(c.pending) > 0:
			n := copy(p, c.pending)
			c.pending = c.pending[n:]
			return n, nil
		case len(p) == 0:
			return 0, nil
		}
		if b := c.broken.Load(); b != nil {
			return 0, c.err("read", *b)
		}
		n, ok, err := c.readFrame(p)
		if !ok && err == nil && testHookReadEmpty != nil {
			testHookReadEmpty(c)
		}
		switch {
		case err != nil:
			c.broken.Store(&err)
			return 0, c.err("read", err)
		case ok:
			return n, nil
		case c.in.WriterClosed() && !c.in.Readable():
			return 0, io.EOF
		}
		// The peer's last frames may have come after readFrame looked:
		// its end is known only once they are read.
		if down := c.peerDown.Load(); down != 0 && !c.in.Readable() {
			if down == peerStopped {
				return 0, io.EOF
			}
			return 0, c.err("read", ErrPeerGone)
		}
		await(c.pipe, c.in.DataBell(), nil, func() bool {
			return c.in.Readable() || c.in.WriterClosed() || c.closed.Load() || c.peerDown.Load() != 0 || isClosed(dl)
		})
	}
}

// testHookReadEmpty, when set, is called by Read when it found no frame,
// before it looks at why.
var testHookReadEmpty func(*conn)

// readFrame reads the next frame, if there is one, into p (and what
// does not fit into c.pending).
func (c *conn) readFrame(p []byte) (n int, ok bool, err error) {
	if c.aead == nil {
		ok, err = c.in.ReadFrame(func(f []byte) int {
			n = copy(p, f)
			return n
		})
		return n, ok, err
	}
	var sealed []byte
	ok, err = c.in.ReadFrame(func(f []byte) int {
		// Copy first: the writer (or anyone who can write the pipe)
		// cannot change what is authenticated while it is opened.
		if len(f) <= len(c.scratch) {
			sealed = c.scratch[:copy(c.scratch, f)]
		}
		return len(f)
	})
	if !ok || err != nil {
		return 0, ok, err
	}
	if sealed == nil || len(sealed) <= c.aead.Overhead() {
		return 0, false, ErrProtocol
	}
	nc := next(&c.nonceIn)
	if plain := len(sealed) - c.aead.Overhead(); plain <= len(p) {
		if _, err := c.aead.Open(p[:0], nc, sealed, nil); err != nil {
			return 0, false, ErrProtocol
		}
		return plain, true, nil
	}
	opened, err := c.aead.Open(sealed[:0], nc, sealed, nil)
	if err != nil {
		return 0, false, ErrProtocol
	}
	n = copy(p, opened)
	c.pending = opened[n:]
	return n, true, nil
}

// writeErr says why c cannot write now, if it cannot.
func (c *conn) writeErr(dl <-chan struct{}) error {
	switch {
	case c.closed.Load():
		return net.ErrClosed
	case c.wclosed.Load():
		return ErrWriteClosed
	case isClosed(dl):
		return os.ErrDeadlineExceeded
	case c.out.ReaderClosed():
		return ErrPeerClosed
	case c.peerDown.Load() == peerDied:
		return ErrPeerGone
	case c.peerDown.Load() == peerStopped:
		return ErrPeerClosed
	}
	if b := c.broken.Load(); b != nil {
		return *b
	}
	return nil
}

// Write writes p to the peer, in frames of at most 64 KiB, as the pipe
// has room: it waits while the peer has not read enough of what was
// written before.
func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := 0
	for {
		dl := c.wd.wait()
		if err := c.writeErr(dl); err != nil {
			if n == len(p) && n > 0 {
				// All of p has been written: what happens to the
				// stream after that (the peer closing it) is no
				// failure of this Write.
				return n, nil
			}
			return n, c.err("write", err)
		}
		if n == len(p) {
			return n, nil
		}
		k := min(len(p)-n, chunk)
		need := k
		if c.aead != nil {
			need += c.aead.Overhead()
		}
		ok, err := c.out.WriteFrame(need, func(f []byte) int {
			if c.aead != nil {
				c.aead.Seal(f[:0], next(&c.nonceOut), p[n:n+k], nil)
			} else {
				copy(f, p[n:n+k])
			}
			return need
		})
		switch {
		case errors.Is(err, shm.ErrClosed):
			continue // the reader closed: writeErr says so
		case err != nil:
			return n, c.err("write", err)
		case ok:
			n += k
			continue
		}
		await(c.pipe, c.out.SpaceBell(), func() bool { return c.out.Writable(need) }, func() bool {
			return c.out.Writable(c.pipe.MaxFrame()) || c.writeErr(dl) != nil
		})
	}
}

// CloseWrite half-closes the stream: the peer's Read returns io.EOF after
// what was written, and this end can still read. It waits for a Write
// under way.
func (c *conn) CloseWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed.Load() {
		return c.err("close", net.ErrClosed)
	}
	if !c.wclosed.Swap(true) {
		c.out.CloseWrite()
	}
	return nil
}

// Close closes both directions: calls waiting on c fail with
// net.ErrClosed, the peer's Read returns io.EOF after what was sent, and
// its Write fails with ErrPeerClosed. The stream's actor stops and stops
// watching the peer, and the pipe is unmapped.
func (c *conn) Close() error {
	if c.closed.Swap(true) {
		return c.err("close", net.ErrClosed)
	}
	c.kick()
	c.rmu.Lock()
	c.wmu.Lock()
	c.mu.Lock()
	p := c.pipe
	c.unmapped = true
	c.mu.Unlock()
	if p != nil {
		c.out.CloseWrite()
		c.in.CloseRead()
	}
	c.stop()
	if p != nil {
		if c.dialer {
			p.Unlink() // gone already once accepted
		}
		p.Close()
	}
	c.pending, c.scratch = nil, nil
	c.wmu.Unlock()
	c.rmu.Unlock()
	c.st.forget(c, nil)
	// A Dial waiting for the listener's answer gets none from a stopped
	// actor: the System is closing the stream under it.
	c.answer(fmt.Errorf("stream: %w", actor.ErrClosed))
	return nil
}

// stop stops c's actor and waits for it, a while.
func (c *conn) stop() {
	if c.self == nil {
		return
	}
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
