package mailbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/shmactor/shmactor/internal/logx"
	"github.com/shmactor/shmactor/internal/seal"
	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/shm"
)

// Consumer is a pump that takes frames from a ring, opens them with a
// sealer and hands their messages to a handler: a node's inbox, or its
// share of a work queue.
type Consumer struct {
	ring    *shm.Ring
	sealer  *seal.Sealer
	dec     *wire.Decoder
	meet    func(uint64) bool
	handler func(*Message)
	batch   int
	msg     Message // reused for each delivery
	ctr     *counters
	log     *logx.Throttled

	started   atomic.Bool
	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

func newConsumer(ring *shm.Ring, s *seal.Sealer, types *wire.Registry, meet func(uint64) bool, handler func(*Message), batch int, ctr *counters, log *logx.Throttled) *Consumer {
	c := &Consumer{ring: ring, sealer: s, dec: wire.NewDecoder(types), meet: meet, handler: handler, batch: batch, ctr: ctr, log: log, stop: func() {}, done: make(chan struct{})}
	c.dec.Max = ring.MaxRecord()
	return c
}

func (c *Consumer) start() {
	if !c.started.CompareAndSwap(false, true) {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	go c.pump(ctx)
}

// Close stops the pump and closes its ring handle. Closing twice is
// harmless.
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

func (c *Consumer) pump(ctx context.Context) {
	defer close(c.done)
	for {
		_, err := c.ring.PopBatch(ctx, c.batch, c.handle)
		switch {
		case err == nil:
		case ctx.Err() != nil, errors.Is(err, shm.ErrClosed):
			return
		case errors.Is(err, shm.ErrFault):
			c.log.Error("mailbox: ring unusable; pump stops", "ring", c.ring.Name(), "err", err)
			return
		default:
			c.ctr.rejected.Add(1)
			c.log.Warn("mailbox: corrupt record", "ring", c.ring.Name(), "err", err)
		}
	}
}

// handle opens one frame and hands each of its messages to the handler.
func (c *Consumer) handle(frame []byte) {
	h, hl, err := c.dec.Header(frame)
	if err == nil && h.Kind != wire.KindBatch {
		err = fmt.Errorf("frame of kind %v, want batch", h.Kind)
	}
	if err != nil {
		c.ctr.rejected.Add(1)
		c.log.Warn("mailbox: malformed frame dropped", "ring", c.ring.Name(), "err", err)
		return
	}
	meta := seal.Meta{From: h.From, To: h.To, Epoch: h.Epoch, Seq: h.Seq, Sealed: h.Flags&wire.FlagSealed != 0}
	body, err := c.sealer.Open(frame, hl, meta)
	if errors.Is(err, seal.ErrUnknownPeer) && c.meet != nil && c.meet(h.From) {
		body, err = c.sealer.Open(frame, hl, meta)
	}
	if err != nil {
		c.ctr.rejected.Add(1)
		c.log.Warn("mailbox: frame failed to open; dropped", "ring", c.ring.Name(), "err", err)
		return
	}
	for len(body) > 0 {
		if len(body) < 4 || int(binary.BigEndian.Uint32(body)) > len(body)-4 {
			c.ctr.rejected.Add(1)
			c.log.Warn("mailbox: frame body malformed; rest dropped", "ring", c.ring.Name(), "from", fmt.Sprintf("%016x", h.From))
			return
		}
		n := int(binary.BigEndian.Uint32(body))
		c.deliver(h.From, body[4:4+n])
		body = body[4+n:]
	}
}

func (c *Consumer) deliver(from uint64, env []byte) {
	ih, il, err := c.dec.Header(env)
	if err != nil {
		c.ctr.rejected.Add(1)
		c.log.Warn("mailbox: malformed envelope dropped", "ring", c.ring.Name(), "from", fmt.Sprintf("%016x", from), "err", err)
		return
	}
	m := &c.msg
	*m = Message{Kind: ih.Kind, From: from, SenderAddress: ih.SenderAddress, SenderID: ih.SenderID, Target: ih.Target, Corr: ih.Corr, Type: ih.Type}
	rest := env[il:]
	if ih.Flags&wire.FlagMeta != 0 {
		meta, k, err := c.dec.StringMap(rest)
		if err != nil {
			c.ctr.rejected.Add(1)
			c.log.Warn("mailbox: malformed metadata; envelope dropped", "ring", c.ring.Name(), "from", fmt.Sprintf("%016x", from), "err", err)
			return
		}
		m.Meta, rest = meta, rest[k:]
	}
	if m.Value, m.Err = c.dec.Payload(ih.Type, rest); m.Err != nil {
		c.ctr.undecodable.Add(1)
	}
	c.ctr.received.Add(1)
	c.handler(m)
}

// Consume opens (creating it if needed, with cfg) the ring called name
// and pumps it like the inbox, opening frames with sealer and taking one
// frame at a time, so that other consumers of the ring get the rest: a
// work queue's competing consumer. meet may be nil.
func (mb *Mailboxes) Consume(name string, cfg *shm.RingConfig, sealer *seal.Sealer, meet func(uint64) bool, handler func(*Message)) (*Consumer, error) {
	if mb.closed.Load() {
		return nil, ErrClosed
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
