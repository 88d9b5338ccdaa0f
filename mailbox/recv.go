package mailbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmactor/shmactor/internal/logx"
	"github.com/shmactor/shmactor/internal/seal"
	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/shm"
)

// Consumer is a pump that takes frames from a ring, opens them with a
// sealer and hands their messages to a handler: a node's inbox, or its
// share of a work queue.
//
// The pump calls the handler on its own goroutine. An inbox's handler may
// run an actor right there (Mailboxes.RunOnPump): when one such run takes
// longer than the hand-off budget, a watchdog hands the inbox to a new
// pump goroutine, which goes on with the messages after the one being
// handled, in order; the old goroutine finishes the slow call and leaves.
// So no handler, however slow, stalls the inbox for more than the budget.
type Consumer struct {
	ring    *shm.Ring
	sealer  *seal.Sealer
	dec     *wire.Decoder
	types   *wire.Registry
	meet    func(uint64) bool
	handler func(*Message)
	batch   int
	// dir and self let the inbox's consumer fetch out-of-line messages
	// (nil dir: a work queue's, which takes none); big decodes them.
	dir  *shm.Dir
	self uint64
	big  *wire.Decoder
	maps oolMaps
	// files holds the descriptors that came beside envelopes (nil: a
	// work queue's consumer, which takes none).
	files *fileStore
	ctr   *counters
	log   *logx.Throttled

	// Owned by the goroutine that owns the pump (one at a time).
	msg   *Message // reused for each delivery; a new one after a hand-off
	work  work
	seq   uint64 // handler calls made
	taken uint64 // the ring's head after the last take

	retire retirements

	// state is seq<<2 | inHandler | handedOff: what the watchdog sees;
	// retirements watch seq for progress.
	state    atomic.Uint64
	budget   time.Duration // hand-off budget; 0: no watchdog
	dogSleep atomic.Bool   // the watchdog waits for poke
	poke     chan struct{}
	handoffs atomic.Uint64
	pumps    sync.WaitGroup

	started   atomic.Bool
	ctx       context.Context
	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// work is what a pump has taken from the ring and not yet handed on:
// frames one after another in buf, their lengths in lens; next is the
// index of the next frame to open, body the rest of the opened frame.
type work struct {
	buf  []byte
	lens []int
	next int
	off  int // where frame next starts in buf
	body []byte
	from uint64
	// detach makes the next take use new buffers: the goroutine that lost
	// the pump may still refer to the old ones.
	detach bool
}

const (
	inHandler = 1 << iota
	handedOff
	stateShift = 2
)

// DefaultHandOff is how long one handler call may hold an inbox's pump
// before the pump is handed to a new goroutine (see HandOff).
const DefaultHandOff = 500 * time.Microsecond

func newConsumer(ring *shm.Ring, s *seal.Sealer, types *wire.Registry, meet func(uint64) bool, handler func(*Message), batch int, ctr *counters, log *logx.Throttled) *Consumer {
	c := &Consumer{ring: ring, sealer: s, dec: wire.NewDecoder(types), types: types, meet: meet, handler: handler, batch: batch, ctr: ctr, log: log, done: make(chan struct{}), poke: make(chan struct{}, 1), msg: new(Message)}
	c.dec.Max = ring.MaxRecord()
	c.ctx, c.stop = context.WithCancel(context.Background())
	return c
}

func (c *Consumer) start() {
	if !c.started.CompareAndSwap(false, true) {
		return
	}
	if head, _, err := c.ring.Positions(); err == nil {
		c.taken = head
		c.retire.drained(head)
	}
	c.pumps.Add(1)
	go c.pump()
	if c.budget > 0 {
		go c.watch()
	}
	go func() {
		c.pumps.Wait()
		close(c.done)
	}()
}

// HandOffs returns how many times a slow handler call made the pump move
// to a new goroutine.
func (c *Consumer) HandOffs() uint64 { return c.handoffs.Load() }

// Close stops the pump and closes its ring handle. A pump goroutine that
// has been handed off inside a slow handler call ends when the call
// returns; Close does not wait for it, nor for a run on the pump
// (Mailboxes.RunOnPump) with a hand-off budget, which loses the pump at
// once. Closing twice is harmless.
func (c *Consumer) Close() error {
	c.closeOnce.Do(func() {
		c.stop()
		c.closeErr = c.ring.Close()
		if c.started.Load() {
			<-c.done
		}
	})
	return c.closeErr
}

// pump hands on what is taken, then takes more, until the consumer is
// closed or the pump is handed to another goroutine.
func (c *Consumer) pump() {
	for {
		if !c.drain() {
			return // handed off: the new pump goes on, and counts as this one
		}
		c.retire.drained(c.taken)
		w := &c.work
		w.next, w.off, w.body = 0, 0, nil
		if w.detach {
			w.buf, w.lens, w.detach = nil, nil, false
		}
		var err error
		w.buf, w.lens, err = c.ring.PopBatchAppend(c.ctx, c.batch, w.buf[:0], w.lens[:0])
		if head, _, perr := c.ring.Positions(); perr == nil {
			c.taken = head // everything before it is in w, or was skipped
		}
		switch {
		case err == nil:
		case c.ctx.Err() != nil, errors.Is(err, shm.ErrClosed):
			c.pumps.Done()
			return
		case errors.Is(err, shm.ErrFault):
			c.log.Error("mailbox: ring unusable; pump stops", "ring", c.ring.Name(), "err", err)
			c.pumps.Done()
			return
		default:
			c.ctr.rejected.Add(1)
			c.log.Warn("mailbox: corrupt record", "ring", c.ring.Name(), "err", err)
		}
	}
}

// drain hands on every message of the work taken. It reports false when
// the pump was handed off during a handler call: the caller must then
// leave without touching the consumer.
func (c *Consumer) drain() bool {
	w := &c.work
	for {
		for len(w.body) > 0 {
			if len(w.body) < 4 || int(binary.BigEndian.Uint32(w.body)) > len(w.body)-4 {
				c.ctr.rejected.Add(1)
				c.log.Warn("mailbox: frame body malformed; rest dropped", "ring", c.ring.Name(), "from", fmt.Sprintf("%016x", w.from))
				w.body = nil
				break
			}
			n := int(binary.BigEndian.Uint32(w.body))
			env := w.body[4 : 4+n]
			w.body = w.body[4+n:]
			if !c.deliver(w.from, env) {
				return false
			}
		}
		if w.next >= len(w.lens) || c.ctx.Err() != nil {
			return true
		}
		frame := w.buf[w.off : w.off+w.lens[w.next]]
		w.off += w.lens[w.next]
		w.next++
		w.from, w.body = c.open(frame)
	}
}

// handle opens one frame and hands on its messages, on the caller's
// goroutine (the frame fuzz target's entry).
func (c *Consumer) handle(frame []byte) {
	c.work = work{}
	c.work.from, c.work.body = c.open(frame)
	c.drain()
}

// open opens one frame and returns its sender and its body (envelopes
// behind their lengths); nil for a frame rejected.
func (c *Consumer) open(frame []byte) (uint64, []byte) {
	h, hl, err := c.dec.Header(frame)
	if err == nil && h.Kind != wire.KindBatch {
		err = fmt.Errorf("frame of kind %v, want batch", h.Kind)
	}
	if err != nil {
		c.ctr.rejected.Add(1)
		c.log.Warn("mailbox: malformed frame dropped", "ring", c.ring.Name(), "err", err)
		return 0, nil
	}
	meta := seal.Meta{From: h.From, To: h.To, Epoch: h.Epoch, Seq: h.Seq, Sealed: h.Flags&wire.FlagSealed != 0}
	body, err := c.sealer.Open(frame, hl, meta)
	if errors.Is(err, seal.ErrUnknownPeer) && c.meet != nil && c.meet(h.From) {
		body, err = c.sealer.Open(frame, hl, meta)
	}
	if err != nil {
		c.ctr.rejected.Add(1)
		c.log.Warn("mailbox: frame failed to open; dropped", "ring", c.ring.Name(), "err", err)
		return 0, nil
	}
	return h.From, body
}

// deliver decodes one envelope and calls the handler. It reports false
// when the pump was handed off while the handler ran.
func (c *Consumer) deliver(from uint64, env []byte) bool {
	ih, il, err := c.dec.Header(env)
	if err != nil {
		c.ctr.rejected.Add(1)
		c.log.Warn("mailbox: malformed envelope dropped", "ring", c.ring.Name(), "from", fmt.Sprintf("%016x", from), "err", err)
		return true
	}
	dec := c.dec
	var oolErr error
	var blob *Blob
	if ih.Flags&wire.FlagBlob != 0 {
		if ih.Flags&wire.FlagOutOfLine == 0 || ih.Type != BlobTypeName {
			oolErr = fmt.Errorf("blob: a malformed reference")
		} else if blob, oolErr = c.receiveBlob(from, env[il:]); oolErr != nil {
			oolErr = fmt.Errorf("blob: %w", oolErr)
			c.log.Warn("mailbox: blob not delivered", "ring", c.ring.Name(), "from", fmt.Sprintf("%016x", from), "err", oolErr)
		}
	} else if ih.Flags&wire.FlagOutOfLine != 0 {
		// The whole envelope waits in a segment of its own. If it
		// cannot be had, the reference's header (the original's) says
		// who sent it and who waits for it.
		inner, err := c.fetch(from, env[il:])
		if err == nil {
			if c.big == nil {
				c.big = wire.NewDecoder(c.types)
				c.big.Max, c.big.Alias = math.MaxInt, true
			}
			var h wire.Header
			var l int
			if h, l, err = c.big.Header(inner); err == nil && h.Flags&wire.FlagOutOfLine != 0 {
				err = errors.New("an out-of-line envelope refers to another")
			}
			if err == nil {
				ih, il, env, dec = h, l, inner, c.big
			}
		}
		if err != nil {
			oolErr = fmt.Errorf("out-of-line message: %w", err)
			c.log.Warn("mailbox: out-of-line message not delivered", "ring", c.ring.Name(), "from", fmt.Sprintf("%016x", from), "err", err)
		}
	}
	m := c.msg
	*m = Message{Kind: ih.Kind, From: from, SenderAddress: ih.SenderAddress, SenderID: ih.SenderID, Target: ih.Target, Corr: ih.Corr, Type: ih.Type, Err: oolErr}
	rest := env[il:]
	if oolErr != nil || blob != nil {
		rest = nil
		if blob != nil {
			m.Value = blob
		}
	} else if ih.Flags&wire.FlagMeta != 0 {
		meta, k, err := dec.StringMap(rest)
		if err != nil {
			// The header says who sent it and who waits: it goes on
			// with the error, to be dead-lettered and answered.
			m.Err = fmt.Errorf("metadata: %w", err)
		} else {
			m.Meta, rest = meta, rest[k:]
		}
	}
	if m.Err == nil && blob == nil {
		if _, ok := m.Meta[filesKey]; ok {
			dec.Files, m.Err = c.takeFiles(m.Meta)
		}
		if m.Err == nil {
			m.Value, m.Err = dec.Payload(ih.Type, rest)
		}
		closeAll(dec.Files) // any the payload did not take
		dec.Files = nil
	}
	if m.Value == nil && m.Err == nil {
		// A nil message is no message: handed to protoactor, it would
		// read as an empty mailbox that still counts one message, and
		// the actor's mailbox would spin for the life of the process.
		m.Err = fmt.Errorf("%w from node %016x", ErrNilMessage, from)
	}
	if m.Err != nil {
		c.ctr.undecodable.Add(1)
	}
	c.ctr.received.Add(1)
	c.seq++
	st := c.seq << stateShift
	c.state.Store(st)
	c.handler(m)
	return c.budget <= 0 || c.state.Load() == st
}

// calls returns how many handler calls the pump has begun: its progress,
// which retirements watch.
func (c *Consumer) calls() uint64 { return c.state.Load() >> stateShift }

// runOnPump runs fn on the pump's goroutine, inside a handler call; the
// pump may be handed off while fn runs (never while the handler does
// anything else, so what it delivered before calling fn stays in order).
func (c *Consumer) runOnPump(fn func()) {
	st := c.state.Load()
	if c.budget <= 0 || st&(inHandler|handedOff) != 0 {
		fn()
		return
	}
	c.state.Store(st | inHandler)
	if c.dogSleep.Load() && c.dogSleep.CompareAndSwap(true, false) {
		select {
		case c.poke <- struct{}{}:
		default:
		}
	}
	if c.ctx.Err() != nil {
		// Closing: the watchdog has gone, or takes the pump from this
		// run as it goes (see leave), and Close must not wait for fn.
		go fn()
	} else {
		fn()
	}
	c.state.CompareAndSwap(st|inHandler, st)
}

// leave is the watchdog's last act, once the consumer is closing: a run
// on the pump loses it at once, as in a hand-off but with no pump to
// take over, so that Close does not wait for the run. The goroutine that
// lost leaves without counting itself out of pumps; this does it.
func (c *Consumer) leave() {
	st := c.state.Load()
	if st&inHandler != 0 && st&handedOff == 0 && c.state.CompareAndSwap(st, st|handedOff) {
		c.pumps.Done()
	}
}

// watch is the watchdog of a consumer with a hand-off budget: while
// handler calls run it looks at the pump every budget, and a call it sees
// twice in a row (so running for at least one budget) loses the pump to a
// new goroutine. With no handler call running for a few looks it sleeps
// until the pump pokes it, so an idle inbox costs nothing.
func (c *Consumer) watch() {
	defer c.leave()
	var last uint64
	quiet := 0
	t := time.NewTimer(c.budget)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-c.ctx.Done():
			return
		}
		st := c.state.Load()
		switch {
		case st&inHandler == 0 || st&handedOff != 0:
			quiet++
		case st == last && c.state.CompareAndSwap(st, st|handedOff):
			// The old goroutine finishes its call and leaves; this
			// one takes the work after the message being handled.
			c.handoffs.Add(1)
			c.msg = new(Message)
			c.work.detach = true
			go c.pump()
			quiet = 0
		default:
			quiet = 0
		}
		last = st
		if quiet >= 4 {
			c.dogSleep.Store(true)
			if st := c.state.Load(); st&inHandler == 0 || st&handedOff != 0 {
				select {
				case <-c.poke:
				case <-c.ctx.Done():
					return
				}
			}
			c.dogSleep.Store(false)
			quiet, last = 0, 0
		}
		t.Reset(c.budget)
	}
}

// Consume opens (creating it if needed, with cfg) the ring called name
// and pumps it like the inbox, opening frames with sealer and taking one
// frame at a time, so that other consumers of the ring get the rest: a
// work queue's competing consumer. meet may be nil; a nil sealer or
// handler makes ErrInvalidArgument, closed mailboxes ErrClosed.
func (mb *Mailboxes) Consume(name string, cfg *shm.RingConfig, sealer *seal.Sealer, meet func(uint64) bool, handler func(*Message)) (*Consumer, error) {
	if mb.closed.Load() {
		return nil, ErrClosed
	}
	if sealer == nil || handler == nil {
		return nil, fmt.Errorf("%w: queue %s: Consume needs a sealer and a handler", ErrInvalidArgument, name)
	}
	ring, err := shm.OpenRing(mb.cfg.Dir, name)
	if errors.Is(err, shm.ErrNotFound) {
		ring, err = shm.CreateRing(mb.cfg.Dir, name, cfg)
		if errors.Is(err, shm.ErrExist) {
			ring, err = shm.OpenRing(mb.cfg.Dir, name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("mailbox: queue %s: %w", name, err)
	}
	if mb.cfg.Spin > 0 {
		ring.SetSpin(mb.cfg.Spin)
	}
	c := newConsumer(ring, sealer, mb.cfg.Types, meet, handler, 1, &mb.ctr, mb.log)
	c.start()
	return c, nil
}
