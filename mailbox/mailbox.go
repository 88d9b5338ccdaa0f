package mailbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmactor/shmactor/internal/seal"
	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/registry"
	"github.com/shmactor/shmactor/shm"
)

// Sentinel errors.
var (
	// ErrFull is returned by a send that found the receiver's inbox full:
	// at once with FailFast, after the deadline with Block. It wraps
	// shm.ErrFull.
	ErrFull = fmt.Errorf("mailbox: receiver's inbox full: %w", shm.ErrFull)
	// ErrDropped is returned by a DropNewest send whose message was dropped
	// because the receiver's inbox was full.
	ErrDropped = errors.New("mailbox: dropped: receiver's inbox full")
	// ErrTooLarge is returned for a message whose frame would exceed the
	// receiver's largest record. It wraps shm.ErrTooLarge.
	ErrTooLarge = fmt.Errorf("mailbox: message too large: %w", shm.ErrTooLarge)
	// ErrNodeGone is returned for a send to a node that has left or died.
	ErrNodeGone = errors.New("mailbox: receiving node is gone")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("mailbox: closed")
	// ErrBadKind is returned for an Outgoing whose Kind is not one a
	// message can have (user, system, publish or control).
	ErrBadKind = errors.New("mailbox: not a message kind")
)

// Policy says what a send does when the receiver's inbox is full.
type Policy int

const (
	// Block waits for room until the send deadline, then fails with
	// ErrFull. The default.
	Block Policy = iota
	// DropNewest drops the message being sent (ErrDropped).
	DropNewest
	// FailFast fails at once with ErrFull.
	FailFast
)

func (p Policy) String() string {
	switch p {
	case Block:
		return "block"
	case DropNewest:
		return "drop-newest"
	case FailFast:
		return "fail-fast"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// DefaultTimeout is how long a Block send waits for room.
const DefaultTimeout = 5 * time.Second

// Config configures a node's mailboxes.
type Config struct {
	Dir    *shm.Dir       // the namespace directory
	Self   uint64         // this node's id
	Sealer *seal.Sealer   // seals to and opens from peers
	Types  *wire.Registry // message types
	// Ring is the geometry of this node's inbox (zero: shm defaults).
	Ring shm.RingConfig
	// Policy and Timeout are the back-pressure defaults for sends.
	Policy  Policy
	Timeout time.Duration
	// Spin is how long the pump spins for more messages before it parks
	// (zero: shm.DefaultSpin).
	Spin time.Duration
	// Inbox resolves a peer's inbox segment name.
	Inbox func(node uint64) (string, error)
	// Meet, if set, is called when a frame comes from a node the sealer
	// does not know (it joined an instant ago): it should add the node to
	// the sealer and report whether it did; the frame is then opened
	// again.
	Meet func(node uint64) bool
	// Handler receives every message the pump takes, on the pump's
	// goroutine. The *Message is reused: copy what you keep.
	Handler func(*Message)
	// Logger receives one line per rejected frame (throttled); nil
	// discards.
	Logger *slog.Logger
}

// Message is a message taken from this node's inbox.
type Message struct {
	Kind wire.Kind
	// From is the sending node, as authenticated by the frame's seal.
	From uint64
	// SenderAddress and SenderID are the sender's PID ("" for none).
	SenderAddress, SenderID string
	Target                  string
	Corr                    uint64
	Type                    string
	Meta                    map[string]string
	// Value is the decoded payload. When it does not decode (an
	// unregistered type, a payload that does not fit it) Value is nil and
	// Err says why.
	Value any
	Err   error
}

// Outgoing is a message to send.
type Outgoing struct {
	Kind                    wire.Kind
	Target                  string
	SenderAddress, SenderID string
	Corr                    uint64
	Meta                    map[string]string
	Value                   any
	// Alone sends the message in a frame of its own. Work queues need it:
	// a consumer takes one frame at a time, so a frame of one message is
	// what makes each message go to whichever consumer is free, and a
	// consumer that dies loses only the message it was handling.
	Alone bool
}

// Stats counts a node's traffic.
type Stats struct {
	Sent        uint64 // messages pushed to peers' inboxes
	Received    uint64 // messages taken from this node's inbox and handed on
	Full        uint64 // sends that failed because an inbox stayed full
	Dropped     uint64 // DropNewest sends dropped
	Undecodable uint64 // messages received whose payload did not decode
	Rejected    uint64 // frames rejected: malformed, or failing to open
	Inbox       shm.RingStats
}

// Mailboxes are a node's inbox and its sends to peers.
type Mailboxes struct {
	cfg   Config
	inbox *shm.Ring
	name  string
	log   *slog.Logger

	mu    sync.Mutex
	peers map[uint64]*peer
	dead  map[uint64]struct{} // nodes gone
	pool  sync.Pool

	in  *Consumer // the inbox's pump
	ctr counters

	closed atomic.Bool
}

type counters struct {
	sent, received, full, dropped, undecodable, rejected atomic.Uint64
	logT                                                 throttle
}

// peer is the sending side towards one node. Sends to it are flat-
// combined: each sender encodes its message, queues it, and either becomes
// the flusher (when no flush is running) or waits for the running flusher
// to push it. Only the flusher takes sequence numbers, seals and pushes,
// one frame after another, so frames enter the ring in sequence order —
// the receiver's replay window never sees a frame overtaken by thousands
// of later ones — and messages queued during a flush share one frame and
// one seal.
type peer struct {
	node uint64
	once sync.Once
	ring *shm.Ring
	err  error
	ctx  context.Context // cancelled when the node is gone
	gone context.CancelFunc

	mu       sync.Mutex
	cond     sync.Cond
	queue    []*item
	spare    []*item
	flushing bool
	frame    []byte // the flusher's buffer
}

// item is one queued message: its encoded envelope (with its 4-byte
// length) and, once flushed, its outcome.
type item struct {
	env    []byte
	policy Policy
	alone  bool
	err    error
	done   bool
}

type encoder struct {
	enc *wire.Encoder
	buf []byte
	it  item
}

// Open creates this node's inbox. Messages wait in it until Start.
func Open(cfg Config) (*Mailboxes, error) {
	if cfg.Dir == nil || cfg.Sealer == nil || cfg.Types == nil || cfg.Inbox == nil || cfg.Handler == nil {
		return nil, errors.New("mailbox: Config needs Dir, Sealer, Types, Inbox and Handler")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	mb := &Mailboxes{cfg: cfg, name: registry.NodeFile("inbox", cfg.Self), peers: map[uint64]*peer{}, dead: map[uint64]struct{}{}, log: cfg.Logger}
	if mb.log == nil {
		mb.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	mb.pool.New = func() any { return &encoder{enc: wire.NewEncoder(cfg.Types), buf: make([]byte, 0, 512)} }
	ring, err := shm.CreateRing(cfg.Dir, mb.name, &cfg.Ring)
	if err != nil {
		return nil, fmt.Errorf("mailbox: inbox: %w", err)
	}
	if cfg.Spin > 0 {
		ring.SetSpin(cfg.Spin)
	}
	mb.inbox = ring
	mb.in = newConsumer(ring, cfg.Sealer, cfg.Types, cfg.Meet, cfg.Handler, 64, &mb.ctr, mb.log)
	return mb, nil
}

// Start starts the pump that hands the inbox's messages to the handler.
// Call it once whatever the handler needs is ready; messages that arrive
// before wait in the inbox.
func (mb *Mailboxes) Start() {
	if !mb.closed.Load() {
		mb.in.start()
	}
}

// InboxName returns the name of this node's inbox segment.
func (mb *Mailboxes) InboxName() string { return mb.name }

// MaxRecord returns the largest frame this node's inbox takes.
func (mb *Mailboxes) MaxRecord() int { return mb.inbox.MaxRecord() }

// Gone marks a node as gone for good (node ids are never reused): sends
// to it fail with ErrNodeGone, and sends waiting for room in its inbox
// give up.
func (mb *Mailboxes) Gone(node uint64) {
	mb.mu.Lock()
	p := mb.peers[node]
	delete(mb.peers, node)
	mb.dead[node] = struct{}{}
	mb.mu.Unlock()
	if p != nil {
		p.gone()
		p.once.Do(func() {}) // a ring not opened yet stays unopened
		if p.ring != nil {
			p.ring.Close()
		}
	}
}

func (mb *Mailboxes) peer(node uint64) (*peer, error) {
	mb.mu.Lock()
	if _, dead := mb.dead[node]; dead {
		mb.mu.Unlock()
		return nil, fmt.Errorf("%w: node %016x", ErrNodeGone, node)
	}
	p := mb.peers[node]
	if p == nil {
		p = &peer{node: node}
		p.cond.L = &p.mu
		p.ctx, p.gone = context.WithCancel(context.Background())
		mb.peers[node] = p
	}
	mb.mu.Unlock()
	p.once.Do(func() {
		name, err := mb.cfg.Inbox(node)
		if err != nil {
			p.err = fmt.Errorf("mailbox: inbox of node %016x: %w", node, err)
			return
		}
		if p.ring, p.err = shm.OpenRing(mb.cfg.Dir, name); p.err != nil {
			p.err = fmt.Errorf("mailbox: inbox of node %016x: %w", node, p.err)
		}
	})
	if p.err != nil {
		mb.mu.Lock()
		if mb.peers[node] == p {
			delete(mb.peers, node) // try again next time
		}
		mb.mu.Unlock()
		return nil, p.err
	}
	if p.ctx.Err() != nil {
		return nil, fmt.Errorf("%w: node %016x", ErrNodeGone, node)
	}
	return p, nil
}

// Send sends one message to node with the default policy.
func (mb *Mailboxes) Send(node uint64, m *Outgoing) error {
	return mb.SendPolicy(node, m, mb.cfg.Policy)
}

// SendPolicy sends one message to node with the given policy. It returns
// once the message is in the receiver's inbox, or with the reason it is
// not.
func (mb *Mailboxes) SendPolicy(node uint64, m *Outgoing, policy Policy) error {
	if mb.closed.Load() {
		return ErrClosed
	}
	p, err := mb.peer(node)
	if err != nil {
		return err
	}
	e := mb.pool.Get().(*encoder)
	defer mb.pool.Put(e)
	env, err := mb.envelope(e, m)
	if err != nil {
		return err
	}
	if max := p.ring.MaxRecord() - mb.frameOverhead(); len(env) > max {
		return fmt.Errorf("%w: a %T makes a %d-byte envelope, node %016x takes at most %d", ErrTooLarge, m.Value, len(env), node, max)
	}
	it := &e.it
	*it = item{env: env, policy: policy, alone: m.Alone}
	p.mu.Lock()
	p.queue = append(p.queue, it)
	if p.flushing {
		for !it.done {
			p.cond.Wait()
		}
		p.mu.Unlock()
		return it.err
	}
	p.flushing = true
	for len(p.queue) > 0 {
		batch := p.queue
		p.queue = p.spare[:0]
		p.mu.Unlock()
		mb.flush(p, batch)
		p.mu.Lock()
		for _, b := range batch {
			b.done = true
		}
		clear(batch)
		p.spare = batch[:0]
		p.cond.Broadcast()
	}
	p.flushing = false
	p.mu.Unlock()
	return it.err
}

// envelope encodes m's envelope, behind a 4-byte length, in e's buffer.
func (mb *Mailboxes) envelope(e *encoder, m *Outgoing) ([]byte, error) {
	if m.Kind < wire.KindUser || m.Kind >= wire.KindBatch {
		return nil, fmt.Errorf("%w: %v", ErrBadKind, m.Kind)
	}
	name, err := mb.cfg.Types.NameOf(m.Value)
	if err != nil {
		return nil, err
	}
	b := append(e.buf[:0], 0, 0, 0, 0)
	h := wire.Header{Kind: m.Kind, SenderAddress: m.SenderAddress, SenderID: m.SenderID, Target: m.Target, Corr: m.Corr, Type: name}
	if len(m.Meta) > 0 {
		h.Flags = wire.FlagMeta
	}
	b = wire.AppendHeader(b, &h)
	if len(m.Meta) > 0 {
		b = wire.AppendStringMap(b, m.Meta)
	}
	b, err = e.enc.AppendPayload(b, m.Value)
	e.buf = b
	if err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b, nil
}

// maxOuterHeader bounds the encoded size of a frame's outer header.
const maxOuterHeader = 48

func (mb *Mailboxes) frameOverhead() int { return maxOuterHeader + mb.cfg.Sealer.Overhead() }

// flush pushes queued envelopes to the peer, as few frames as fit, each
// with the next sequence number, in order. A run of envelopes with one
// policy shares a frame, except those sent Alone.
func (mb *Mailboxes) flush(p *peer, items []*item) {
	s := mb.cfg.Sealer
	max := p.ring.MaxRecord()
	for i := 0; i < len(items); {
		policy := items[i].policy
		seq, epoch, err := s.Next(p.node)
		if err != nil {
			for ; i < len(items); i++ {
				items[i].err = err
			}
			return
		}
		oh := wire.Header{Kind: wire.KindBatch, From: mb.cfg.Self, To: p.node, Seq: seq, Epoch: epoch}
		if !s.Plaintext() {
			oh.Flags = wire.FlagSealed
		}
		b := wire.AppendHeader(p.frame[:0], &oh)
		hl := len(b)
		b = append(b, zeroNonce[:s.NonceSpace()]...)
		j := i
		for j < len(items) && (j == i || items[j].policy == policy && !items[i].alone && !items[j].alone && len(b)+len(items[j].env)+s.Overhead()-s.NonceSpace() <= max) {
			b = append(b, items[j].env...)
			j++
		}
		if b, err = s.Seal(b, hl, p.node); err == nil {
			err = mb.push(p, b, policy)
		}
		p.frame = b
		n := j - i
		if err == nil {
			mb.ctr.sent.Add(uint64(n))
		}
		for ; i < j; i++ {
			items[i].err = err
		}
		switch {
		case errors.Is(err, ErrDropped):
			mb.ctr.dropped.Add(uint64(n))
		case errors.Is(err, ErrFull):
			mb.ctr.full.Add(uint64(n))
		}
	}
}

// push pushes one frame, applying the policy when the inbox is full.
func (mb *Mailboxes) push(p *peer, frame []byte, policy Policy) error {
	err := p.ring.TryPush(frame)
	if err == nil {
		return nil
	}
	if !errors.Is(err, shm.ErrFull) {
		return mb.pushErr(p.node, err)
	}
	switch policy {
	case DropNewest:
		return fmt.Errorf("%w (node %016x)", ErrDropped, p.node)
	case FailFast:
		return fmt.Errorf("%w (node %016x)", ErrFull, p.node)
	}
	ctx, cancel := context.WithTimeout(p.ctx, mb.cfg.Timeout)
	defer cancel()
	if err := p.ring.Push(ctx, frame); err != nil {
		if p.ctx.Err() != nil {
			return fmt.Errorf("%w: node %016x", ErrNodeGone, p.node)
		}
		if errors.Is(err, shm.ErrFull) {
			return fmt.Errorf("%w (node %016x, waited %v)", ErrFull, p.node, mb.cfg.Timeout)
		}
		return mb.pushErr(p.node, err)
	}
	return nil
}

func (mb *Mailboxes) pushErr(node uint64, err error) error {
	if errors.Is(err, shm.ErrClosed) {
		return fmt.Errorf("%w: node %016x", ErrNodeGone, node)
	}
	return fmt.Errorf("mailbox: send to node %016x: %w", node, err)
}

var zeroNonce [seal.NonceSize]byte

// ---- receiving ----

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
	log     *slog.Logger

	started atomic.Bool
	stop    context.CancelFunc
	done    chan struct{}
}

func newConsumer(ring *shm.Ring, s *seal.Sealer, types *wire.Registry, meet func(uint64) bool, handler func(*Message), batch int, ctr *counters, log *slog.Logger) *Consumer {
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

// Close stops the pump and closes its ring handle.
func (c *Consumer) Close() error {
	c.stop()
	err := c.ring.Close()
	if c.started.Load() {
		<-c.done
	}
	return err
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
			c.ctr.warn(c.log, "mailbox: corrupt record", "ring", c.ring.Name(), "err", err)
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
		c.ctr.warn(c.log, "mailbox: malformed frame dropped", "ring", c.ring.Name(), "err", err)
		return
	}
	meta := seal.Meta{From: h.From, To: h.To, Epoch: h.Epoch, Seq: h.Seq, Sealed: h.Flags&wire.FlagSealed != 0}
	body, err := c.sealer.Open(frame, hl, meta)
	if errors.Is(err, seal.ErrUnknownPeer) && c.meet != nil && c.meet(h.From) {
		body, err = c.sealer.Open(frame, hl, meta)
	}
	if err != nil {
		c.ctr.rejected.Add(1)
		c.ctr.warn(c.log, "mailbox: frame failed to open; dropped", "ring", c.ring.Name(), "err", err)
		return
	}
	for len(body) > 0 {
		if len(body) < 4 || int(binary.BigEndian.Uint32(body)) > len(body)-4 {
			c.ctr.rejected.Add(1)
			c.ctr.warn(c.log, "mailbox: frame body malformed; rest dropped", "ring", c.ring.Name(), "from", fmt.Sprintf("%016x", h.From))
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
		c.ctr.warn(c.log, "mailbox: malformed envelope dropped", "ring", c.ring.Name(), "from", fmt.Sprintf("%016x", from), "err", err)
		return
	}
	m := &c.msg
	*m = Message{Kind: ih.Kind, From: from, SenderAddress: ih.SenderAddress, SenderID: ih.SenderID, Target: ih.Target, Corr: ih.Corr, Type: ih.Type}
	rest := env[il:]
	if ih.Flags&wire.FlagMeta != 0 {
		meta, k, err := c.dec.StringMap(rest)
		if err != nil {
			c.ctr.rejected.Add(1)
			c.ctr.warn(c.log, "mailbox: malformed metadata; envelope dropped", "ring", c.ring.Name(), "from", fmt.Sprintf("%016x", from), "err", err)
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

// warn logs a line, at most a few a second.
func (c *counters) warn(log *slog.Logger, msg string, args ...any) {
	if c.logT.allow() {
		log.Warn(msg, args...)
	}
}

// throttle allows 10 events a second.
type throttle struct {
	mu    sync.Mutex
	start time.Time
	n     int
}

func (t *throttle) allow() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := time.Now(); now.Sub(t.start) > time.Second {
		t.start, t.n = now, 0
	}
	t.n++
	return t.n <= 10
}

// Stats returns the node's counters.
func (mb *Mailboxes) Stats() Stats {
	c := &mb.ctr
	st := Stats{
		Sent: c.sent.Load(), Received: c.received.Load(), Full: c.full.Load(), Dropped: c.dropped.Load(),
		Undecodable: c.undecodable.Load(), Rejected: c.rejected.Load(),
	}
	st.Inbox, _ = mb.inbox.Stats()
	return st
}

// Close stops the pump and closes the inbox and every peer's ring. The
// inbox segment stays until the node leaves the namespace (the registry
// removes it).
func (mb *Mailboxes) Close() error {
	if !mb.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := mb.in.Close()
	mb.mu.Lock()
	peers := mb.peers
	mb.peers = map[uint64]*peer{}
	mb.mu.Unlock()
	for _, p := range peers {
		p.gone()
		p.once.Do(func() {})
		if p.ring != nil {
			p.ring.Close()
		}
	}
	return err
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
