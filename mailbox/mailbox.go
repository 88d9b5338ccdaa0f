package mailbox

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmactor/shmactor/internal/logx"
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
	// receiver's largest record when out-of-line messages are off
	// (Config.OutOfLineQuota < 0), and for a header field too long for
	// any envelope. It wraps shm.ErrTooLarge.
	ErrTooLarge = fmt.Errorf("mailbox: message too large: %w", shm.ErrTooLarge)
	// ErrNodeGone is returned for a send to a node that has left or died.
	ErrNodeGone = errors.New("mailbox: receiving node is gone")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("mailbox: closed")
	// ErrBadKind is returned for an Outgoing whose Kind is not one a
	// message can have (user, system, publish or control).
	ErrBadKind = errors.New("mailbox: not a message kind")
	// ErrNilMessage is returned for a nil Outgoing or one without a Value.
	// A message received without a value is refused the same way: it
	// reaches the Handler with this error in Message.Err, never as a nil
	// Value.
	ErrNilMessage = errors.New("mailbox: nil message")
	// ErrInvalidArgument is returned by Open for a Config without one of
	// its required fields, and for a Policy that is not one of Block,
	// DropNewest and FailFast.
	ErrInvalidArgument = errors.New("mailbox: invalid argument")
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

// String returns a readable name.
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

func validPolicy(p Policy) error {
	if p < Block || p > FailFast {
		return fmt.Errorf("%w: %v", ErrInvalidArgument, p)
	}
	return nil
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
	// Policy and Timeout are the back-pressure defaults for sends: how
	// long a sender waits for room in a full send queue, and the writer
	// for room in a full inbox.
	Policy  Policy
	Timeout time.Duration
	// Spin is how long the pump spins for more messages before it parks
	// (zero: shm.DefaultSpin).
	Spin time.Duration
	// HandOff is how long one Handler call may hold the inbox's pump
	// before the pump moves to a new goroutine and the call finishes on
	// the old one (zero: DefaultHandOff; negative: never, for a Handler
	// that never blocks). It lets a Handler run actors on the pump.
	HandOff time.Duration
	// Inbox resolves a peer's inbox segment name.
	Inbox func(node uint64) (string, error)
	// Meet, if set, is called for a node the sealer does not know (it
	// joined an instant ago), when a frame comes from it or a message goes
	// to it: it should add the node to the sealer and report whether it
	// did.
	Meet func(node uint64) bool
	// Undelivered, if set, receives each message queued with Post that
	// could not be delivered, with the reason (ErrFull, ErrDropped,
	// ErrNodeGone, ErrClosed, ...), on a goroutine of its own. Every such
	// message is counted in Stats as well.
	Undelivered func(node uint64, m *Outgoing, err error)
	// Handler receives every message the pump takes, on the pump's
	// goroutine. The *Message is reused: copy what you keep.
	Handler func(*Message)
	// Logger receives one line per rejected frame (throttled); nil
	// discards.
	Logger *slog.Logger
	// OutOfLineQuota bounds, in bytes, the out-of-line segments this
	// node has made that their receivers have not taken yet: messages
	// too large for the receiver's inbox travel in segments of their own
	// (zero: DefaultOutOfLineQuota; negative: none, and such messages
	// fail with ErrTooLarge).
	OutOfLineQuota int64
}

// maxDead bounds the gone nodes a node remembers, so that a long-lived
// node with many short-lived peers does not grow without end.
const maxDead = 4096

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
	// unregistered type, a payload that does not fit it) or there is none
	// (ErrNilMessage), Value is nil and Err says why: a Value that is nil
	// with a nil Err is never handed on.
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
	Queued      uint64 // messages accepted by Post or Send, for a writer to push
	Sent        uint64 // messages pushed to peers' inboxes
	Received    uint64 // messages taken from this node's inbox and handed on
	Full        uint64 // sends that failed because an inbox stayed full
	Dropped     uint64 // DropNewest sends dropped
	Failed      uint64 // messages not delivered for another reason: the node died, the mailboxes closed
	Undecodable uint64 // messages received whose payload did not decode, or that had none
	HandOffs    uint64 // handler calls slow enough that the inbox's pump moved to a new goroutine
	Rejected    uint64 // frames rejected: malformed, or failing to open
	Inbox       shm.RingStats
}

// Mailboxes are a node's inbox and its sends to peers.
type Mailboxes struct {
	cfg   Config
	inbox *shm.Ring
	name  string
	log   *logx.Throttled

	mu        sync.Mutex
	peers     map[uint64]*peer
	dead      map[uint64]struct{} // nodes gone (the newest maxDead)
	deadOrder []uint64            // dead's nodes, oldest first
	pool      sync.Pool

	in       *Consumer // the inbox's pump
	ctr      counters
	ool      outOfLine
	fl       *fileLink // nil: descriptors are not passed (filesErr says why)
	filesErr error

	closed atomic.Bool
}

type counters struct {
	queued, sent, received, full, dropped, failed, undecodable, rejected atomic.Uint64
}

// peer is the sending side towards one node. Sends to it are flat-
// combined: each sender encodes its message, queues it, and either becomes
// the flusher (when no flush is running) or waits for the running flusher
// to push it. Only the flusher takes sequence numbers, seals and pushes,
// one frame after another, so frames enter the ring in sequence order —
// the receiver's replay window never sees a frame overtaken by thousands
// of later ones — and messages queued during a flush share one frame and
// one seal.

// Open creates this node's inbox. Messages wait in it until Start. A
// Config without Dir, Sealer, Types, Inbox or Handler, or with a Policy
// out of range, makes an error wrapping ErrInvalidArgument.
func Open(cfg Config) (*Mailboxes, error) {
	if cfg.Dir == nil || cfg.Sealer == nil || cfg.Types == nil || cfg.Inbox == nil || cfg.Handler == nil {
		return nil, fmt.Errorf("%w: Config needs Dir, Sealer, Types, Inbox and Handler", ErrInvalidArgument)
	}
	if err := validPolicy(cfg.Policy); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	mb := &Mailboxes{cfg: cfg, name: registry.NodeFile("inbox", cfg.Self), peers: map[uint64]*peer{}, dead: map[uint64]struct{}{}, log: &logx.Throttled{Log: cfg.Logger}}
	mb.pool.New = func() any { return &encoder{enc: wire.NewEncoder(cfg.Types), buf: make([]byte, 0, 512)} }
	ring, err := shm.CreateRing(cfg.Dir, mb.name, &cfg.Ring)
	if err != nil {
		return nil, fmt.Errorf("mailbox: inbox: %w", err)
	}
	if cfg.Spin > 0 {
		ring.SetSpin(cfg.Spin)
	}
	mb.inbox = ring
	mb.ool = outOfLine{quota: cfg.OutOfLineQuota, sent: map[string]*oolSeg{}, pool: map[uint64][]*oolSeg{}}
	if mb.ool.quota == 0 {
		mb.ool.quota = DefaultOutOfLineQuota
	}
	mb.in = newConsumer(ring, cfg.Sealer, cfg.Types, cfg.Meet, cfg.Handler, 64, &mb.ctr, mb.log)
	mb.in.dir, mb.in.self = cfg.Dir, cfg.Self
	mb.filesErr = mb.listenFiles()
	switch {
	case cfg.HandOff == 0:
		mb.in.budget = DefaultHandOff
	case cfg.HandOff > 0:
		mb.in.budget = cfg.HandOff
	}
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

// RunOnPump runs fn on the inbox pump's goroutine. Call it only from the
// Handler, on the goroutine that called it: it is how a Handler runs an
// actor where its message arrived, without a goroutine hop. While fn
// runs, the inbox may be handed to a new pump goroutine (Config.HandOff),
// so a slow fn holds up no other message; and Close does not wait for it
// (once Close has begun, fn runs on a goroutine of its own).
func (mb *Mailboxes) RunOnPump(fn func()) { mb.in.runOnPump(fn) }

// AfterDrained calls fn once every frame claimed in this node's inbox
// before the call has been handed to the Handler: at once when there is
// none (or the pump has not started), else on the pump's goroutine,
// however long a slow Handler takes to get there; or once the pump has
// handed nothing on for 5 s, as when a frame claimed by a killed process
// is set aside instead. A node keeps what it needs to open and deliver a
// departed peer's frames (its key, its watches) until then, so that
// everything the peer committed before it left is delivered.
func (mb *Mailboxes) AfterDrained(fn func()) {
	_, tail, err := mb.inbox.Positions()
	if err != nil || mb.closed.Load() {
		fn()
		return
	}
	mb.in.retire.after(tail, fn, mb.in.calls)
}

// InboxName returns the name of this node's inbox segment.
func (mb *Mailboxes) InboxName() string { return mb.name }

// MaxRecord returns the largest frame this node's inbox takes.
func (mb *Mailboxes) MaxRecord() int { return mb.inbox.MaxRecord() }

// Stats returns the node's counters.
func (mb *Mailboxes) Stats() Stats {
	c := &mb.ctr
	st := Stats{
		Queued: c.queued.Load(), Sent: c.sent.Load(), Received: c.received.Load(), Full: c.full.Load(), Dropped: c.dropped.Load(), Failed: c.failed.Load(),
		Undecodable: c.undecodable.Load(), Rejected: c.rejected.Load(), HandOffs: mb.in.HandOffs(),
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
	mb.closePeers()
	if mb.fl != nil {
		mb.fl.close()
	}
	mb.ool.close()
	err := mb.in.Close()
	mb.in.closeMaps()
	return err
}
