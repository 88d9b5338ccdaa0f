package link

import (
	"sync"
	"sync/atomic"
	"time"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/mailbox"
	"github.com/shmactor/shmactor/registry"
)

// Host is what a System lends the layers above it.
type Host struct {
	// Node is this node's id; Registry its namespace registry.
	Node     uint64
	Registry *registry.Registry
	// Warn logs a warning, throttled.
	Warn func(msg string, args ...any)
	// Post queues a message for a node with the node's back-pressure
	// policy (see mailbox.Mailboxes.Post); a message that fails later goes
	// to the Undelivered handler of its kind.
	Post func(node uint64, out *mailbox.Outgoing) error
	// PostEach posts one message to each of nodes, encoded once (see
	// mailbox.Mailboxes.PostEach).
	PostEach func(nodes []uint64, out *mailbox.Outgoing, failed func(node uint64, err error)) error
	// PostQueue queues a user message for the work queue name, joining
	// the queue on first use.
	PostQueue func(name string, out *mailbox.Outgoing) error
	// CheckType reports whether msg's type may cross processes.
	CheckType func(msg any) error
	// StopConsumer stops a work queue consumer spawned by ConsumeQueue:
	// its pump first, so that no message is taken for an actor that is
	// about to stop, then its actor.
	StopConsumer func(pid *proto.PID)
	// Barrier returns when every other node of the namespace has applied
	// the registry changes this node made before the call, or at timeout
	// with the nodes that did not answer.
	Barrier func(timeout time.Duration) (missing []uint64)

	publish     atomic.Pointer[func(*mailbox.Message)]
	undelivered atomic.Pointer[func(node uint64, out *mailbox.Outgoing, err error)]

	mu      sync.Mutex
	ext     map[string]any
	closers []func()
	closed  bool
}

// HandlePublish sets the handler of publications this node receives; it
// runs on the inbox pump.
func (h *Host) HandlePublish(fn func(*mailbox.Message)) { h.publish.Store(&fn) }

// Publish hands a received publication to its handler and reports
// whether there was one.
func (h *Host) Publish(m *mailbox.Message) bool {
	fn := h.publish.Load()
	if fn == nil {
		return false
	}
	(*fn)(m)
	return true
}

// HandleUndelivered sets the handler of publications this node posted
// that could not be delivered.
func (h *Host) HandleUndelivered(fn func(node uint64, out *mailbox.Outgoing, err error)) {
	h.undelivered.Store(&fn)
}

// Undelivered hands a publication that could not be delivered to its
// handler and reports whether there was one.
func (h *Host) Undelivered(node uint64, out *mailbox.Outgoing, err error) bool {
	fn := h.undelivered.Load()
	if fn == nil {
		return false
	}
	(*fn)(node, out, err)
	return true
}

// Ext returns the extension state stored under key, making it with mk on
// first use; mk's closer, if not nil, runs when the System closes. It
// returns nil once the host is closed.
func (h *Host) Ext(key string, mk func() (any, func())) any {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	if v, ok := h.ext[key]; ok {
		return v
	}
	v, closer := mk()
	if h.ext == nil {
		h.ext = map[string]any{}
	}
	h.ext[key] = v
	if closer != nil {
		h.closers = append(h.closers, closer)
	}
	return v
}

// Close runs the extensions' closers, last made first. It is called by
// the System's Close before it leaves the namespace.
func (h *Host) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	closers := h.closers
	h.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
}

var hosts sync.Map // *proto.ActorSystem → *Host

// Attach makes h the host of sys.
func Attach(sys *proto.ActorSystem, h *Host) { hosts.Store(sys, h) }

// Detach forgets sys's host.
func Detach(sys *proto.ActorSystem) { hosts.Delete(sys) }

// Of returns sys's host, or nil.
func Of(sys *proto.ActorSystem) *Host {
	h, _ := hosts.Load(sys)
	hh, _ := h.(*Host)
	return hh
}
