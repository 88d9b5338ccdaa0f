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
	pool  sync.Pool

	dec  *wire.Decoder // the pump's
	msg  Message       // reused for each delivery
	logT throttle

	sent, received, full, dropped, undecodable, rejected atomic.Uint64

	closed  atomic.Bool
	started atomic.Bool
	stop    context.CancelFunc
	done    chan struct{}
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
	mb := &Mailboxes{cfg: cfg, name: registry.NodeFile("inbox", cfg.Self), peers: map[uint64]*peer{}, log: cfg.Logger, dec: wire.NewDecoder(cfg.Types), done: make(chan struct{})}
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
	mb.dec.Max = ring.MaxRecord()
	mb.stop = func() {}
	return mb, nil
}

// Start starts the pump that hands the inbox's messages to the handler.
// Call it once whatever the handler needs is ready; messages that arrive
// before wait in the inbox.
func (mb *Mailboxes) Start() {
	if !mb.started.CompareAndSwap(false, true) || mb.closed.Load() {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	mb.stop = cancel
	go mb.pump(ctx)
}

// InboxName returns the name of this node's inbox segment.
func (mb *Mailboxes) InboxName() string { return mb.name }

// MaxRecord returns the largest frame this node's inbox takes.
func (mb *Mailboxes) MaxRecord() int { return mb.inbox.MaxRecord() }

// Gone marks a node as gone: sends to it fail with ErrNodeGone, and sends
// waiting for room in its inbox give up.
func (mb *Mailboxes) Gone(node uint64) {
	mb.mu.Lock()
	p := mb.peers[node]
	delete(mb.peers, node)
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
	*it = item{env: env, policy: policy}
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
// policy shares a frame.
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
		for j < len(items) && items[j].policy == policy && (j == i || len(b)+len(items[j].env)+s.Overhead()-s.NonceSpace() <= max) {
			b = append(b, items[j].env...)
			j++
		}
		if b, err = s.Seal(b, hl, p.node); err == nil {
			err = mb.push(p, b, policy)
		}
		p.frame = b
		n := j - i
		if err == nil {
			mb.sent.Add(uint64(n))
		}
		for ; i < j; i++ {
			items[i].err = err
		}
		switch {
		case errors.Is(err, ErrDropped):
			mb.dropped.Add(uint64(n))
		case errors.Is(err, ErrFull):
			mb.full.Add(uint64(n))
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

func (mb *Mailboxes) pump(ctx context.Context) {
	defer close(mb.done)
	for {
		_, err := mb.inbox.PopBatch(ctx, 64, mb.handle)
		switch {
		case err == nil:
		case ctx.Err() != nil, errors.Is(err, shm.ErrClosed):
			return
		case errors.Is(err, shm.ErrFault):
			mb.log.Error("mailbox: inbox unusable; pump stops", "inbox", mb.name, "err", err)
			return
		default:
			mb.rejected.Add(1)
			mb.warn("mailbox: corrupt record in inbox", "inbox", mb.name, "err", err)
		}
	}
}

// handle opens one frame and hands each of its messages to the handler.
func (mb *Mailboxes) handle(frame []byte) {
	h, hl, err := mb.dec.Header(frame)
	if err == nil && h.Kind != wire.KindBatch {
		err = fmt.Errorf("frame of kind %v, want batch", h.Kind)
	}
	if err != nil {
		mb.rejected.Add(1)
		mb.warn("mailbox: malformed frame dropped", "inbox", mb.name, "err", err)
		return
	}
	meta := seal.Meta{From: h.From, To: h.To, Epoch: h.Epoch, Seq: h.Seq, Sealed: h.Flags&wire.FlagSealed != 0}
	body, err := mb.cfg.Sealer.Open(frame, hl, meta)
	if errors.Is(err, seal.ErrUnknownPeer) && mb.cfg.Meet != nil && mb.cfg.Meet(h.From) {
		body, err = mb.cfg.Sealer.Open(frame, hl, meta)
	}
	if err != nil {
		mb.rejected.Add(1)
		mb.warn("mailbox: frame failed to open; dropped", "inbox", mb.name, "err", err)
		return
	}
	for len(body) > 0 {
		if len(body) < 4 || int(binary.BigEndian.Uint32(body)) > len(body)-4 {
			mb.rejected.Add(1)
			mb.warn("mailbox: frame body malformed; rest dropped", "inbox", mb.name, "from", fmt.Sprintf("%016x", h.From))
			return
		}
		n := int(binary.BigEndian.Uint32(body))
		mb.deliver(h.From, body[4:4+n])
		body = body[4+n:]
	}
}

func (mb *Mailboxes) deliver(from uint64, env []byte) {
	ih, il, err := mb.dec.Header(env)
	if err != nil {
		mb.rejected.Add(1)
		mb.warn("mailbox: malformed envelope dropped", "inbox", mb.name, "from", fmt.Sprintf("%016x", from), "err", err)
		return
	}
	m := &mb.msg
	*m = Message{Kind: ih.Kind, From: from, SenderAddress: ih.SenderAddress, SenderID: ih.SenderID, Target: ih.Target, Corr: ih.Corr, Type: ih.Type}
	rest := env[il:]
	if ih.Flags&wire.FlagMeta != 0 {
		meta, k, err := mb.dec.StringMap(rest)
		if err != nil {
			mb.rejected.Add(1)
			mb.warn("mailbox: malformed metadata; envelope dropped", "inbox", mb.name, "from", fmt.Sprintf("%016x", from), "err", err)
			return
		}
		m.Meta, rest = meta, rest[k:]
	}
	if m.Value, m.Err = mb.dec.Payload(ih.Type, rest); m.Err != nil {
		mb.undecodable.Add(1)
	}
	mb.received.Add(1)
	mb.cfg.Handler(m)
}

// warn logs a line, at most a few a second.
func (mb *Mailboxes) warn(msg string, args ...any) {
	if mb.logT.allow() {
		mb.log.Warn(msg, args...)
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
	st := Stats{
		Sent: mb.sent.Load(), Received: mb.received.Load(), Full: mb.full.Load(), Dropped: mb.dropped.Load(),
		Undecodable: mb.undecodable.Load(), Rejected: mb.rejected.Load(),
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
	mb.stop()
	err := mb.inbox.Close()
	if mb.started.Load() {
		<-mb.done
	}
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
