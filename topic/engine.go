package topic

import (
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/link"
	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/mailbox"
)

// engine is a System's topic layer: its subscriptions, its view of where
// publications go, its counters.
type engine struct {
	sys  *actor.System
	host *link.Host

	mu     sync.Mutex
	names  map[string]*held // registry names this node holds
	subs   map[*Subscription]struct{}
	closed atomic.Bool // set under mu

	local  atomic.Pointer[localTable]
	lgen   atomic.Uint64 // bumped when this node's registry entries change
	routes atomic.Pointer[routeTable]
	rmu    sync.Mutex // serializes rebuilding routes

	slow   reporter
	nextID atomic.Uint64 // numbers subscriptions
	paused pauses        // other nodes' subscriptions that hold this node's publications back
	notes  notifier      // flow messages to other nodes

	published, sent, delivered, dropped, waited, undelivered, unrouted, rejected atomic.Uint64

	stopMetrics func() // unregisters the engine's instruments (nil: none)
	// ended holds the deliveries and drops of subscriptions that have
	// ended, by pattern and group (e.mu), for the per-pattern counters.
	ended map[[2]string]Stats
}

// held is a registry name this node holds for refs subscriptions.
type held struct {
	refs  int
	ready chan struct{} // closed when the barrier is done
	err   error
}

// lastEngine is the engine engineOf returned last: the one a process
// with one System uses, found without a map lookup.
var lastEngine atomic.Pointer[engine]

// engineOf returns sys's topic engine, making it on first use.
func engineOf(sys *actor.System) (*engine, error) {
	if e := lastEngine.Load(); e != nil && e.sys == sys && !e.closed.Load() {
		return e, nil
	}
	if sys == nil {
		return nil, fmt.Errorf("%w: nil System", ErrInvalidArgument)
	}
	host := link.Of(sys.ActorSystem)
	if host == nil {
		return nil, ErrClosed
	}
	v := host.Ext("topic", func() (any, func()) {
		e := &engine{sys: sys, host: host, names: map[string]*held{}, subs: map[*Subscription]struct{}{}}
		e.local.Store(&localTable{})
		e.slow.init(sys)
		host.HandlePublish(e.onPublish)
		host.HandleUndelivered(e.onUndelivered)
		e.stopMetrics = e.registerMetrics()
		return e, e.close
	})
	if v == nil {
		return nil, ErrClosed
	}
	e := v.(*engine)
	lastEngine.Store(e)
	return e, nil
}

// table returns the routing table for the registry's current view.
func (e *engine) table() *routeTable {
	gen, lgen := e.host.Registry.Generation(), e.lgen.Load()
	if t := e.routes.Load(); t != nil && t.gen == gen && t.lgen == lgen {
		return t
	}
	e.rmu.Lock()
	defer e.rmu.Unlock()
	gen, lgen = e.host.Registry.Generation(), e.lgen.Load()
	gen0 := gen
	if t := e.routes.Load(); t != nil {
		if t.gen == gen && t.lgen == lgen {
			return t
		}
		gen0 = t.gen
	}
	t := buildRoutes(e.host.Registry, e.host.Node, gen, lgen, e.host.Warn)
	e.routes.Store(t)
	if t.gen != gen0 {
		e.prunePauses()
	}
	return t
}

// publish delivers a publication to every subscription matching its
// subject and returns how many subscriptions, nodes and queue groups it
// went to (none: nobody subscribes).
func (e *engine) publish(d delivery) (int, error) {
	e.published.Add(1)
	subject, msg := d.subject, d.msg
	local := e.local.Load().lookup(subject)
	r := e.table().lookup(subject)
	if d.part == partGroup {
		local, r = nil, r.only(d.group)
	} else if d.part == partPlain && len(r.groups) > 0 {
		r = &route{nodes: r.nodes}
	}
	if len(local) == 0 && r == noRoute {
		return 0, nil
	}
	if r != noRoute {
		if err := e.host.CheckType(msg); err != nil {
			return 0, err
		}
	}
	for _, s := range local {
		s.offer(d)
	}
	// What goes to other nodes: the payload, the publisher's headers,
	// and the requester as the sender.
	out := func() *mailbox.Outgoing {
		o := &mailbox.Outgoing{Kind: wire.KindPublish, Target: subject, Value: msg}
		if len(d.header) > 0 {
			o.Meta = maps.Clone(d.header)
		}
		if d.reply != nil {
			o.SenderAddress, o.SenderID = d.reply.Address, d.reply.Id
		}
		return o
	}
	var first error
	// Nodes that paused a matching subscription come last: the others
	// need not wait for them.
	var held []uint64
	ready := r.nodes
	for i, node := range r.nodes {
		if e.paused.isPaused(node, subject) {
			if len(held) == 0 {
				ready = append([]uint64(nil), r.nodes[:i]...)
			}
			held = append(held, node)
		} else if len(held) > 0 {
			ready = append(ready, node)
		}
	}
	if len(ready) > 0 {
		// Encoded once for every node that takes it now.
		failures := 0
		err := e.host.PostEach(ready, out(), func(node uint64, err error) {
			failures++
			if fatal := e.failed(node, subject, err); fatal && first == nil {
				first = err
			}
		})
		if err != nil {
			for _, node := range ready {
				if fatal := e.failed(node, subject, err); fatal && first == nil {
					first = err
				}
			}
		} else {
			e.sent.Add(uint64(len(ready) - failures))
		}
	}
	if len(held) > 0 {
		e.waited.Add(1)
		start := time.Now()
		for _, node := range held {
			o := out()
			if late := e.await(node, subject, start); len(late) > 0 {
				if o.Meta == nil {
					o.Meta = map[string]string{}
				}
				o.Meta[lateHeader] = formatLate(late)
			}
			e.post(node, o, &first)
		}
	}
	for _, g := range r.groups {
		q := pick(g)
		o := out()
		o.Kind, o.Target = wire.KindUser, q
		if o.Meta == nil {
			o.Meta = map[string]string{}
		}
		o.Meta[SubjectHeader] = subject
		err := e.host.PostQueue(q, o)
		if err == nil {
			e.sent.Add(1)
			continue
		}
		if fatal := e.failed(0, subject, err); fatal && first == nil {
			first = err
		}
	}
	return len(local) + len(r.nodes) + len(r.groups), first
}

// post sends a publication to a node; first keeps the first error the
// publisher should hear of.
func (e *engine) post(node uint64, out *mailbox.Outgoing, first *error) {
	err := e.host.Post(node, out)
	if err == nil {
		e.sent.Add(1)
		return
	}
	if fatal := e.failed(node, out.Target, err); fatal && *first == nil {
		*first = err
	}
}

// failed counts a publication that could not be sent to a node (0: to a
// queue group) and reports whether the publisher should hear of it: a
// message too large or not encodable is the publisher's to fix; a node
// gone or too slow is not.
func (e *engine) failed(node uint64, subject string, err error) (fatal bool) {
	switch {
	case errors.Is(err, mailbox.ErrNodeGone):
		e.undelivered.Add(1)
		return false
	case errors.Is(err, mailbox.ErrFull), errors.Is(err, mailbox.ErrDropped):
		e.dropped.Add(1)
		e.slow.drop(SlowConsumer{Subject: subject, Node: node, Policy: policyOf(err)}, nil)
		return false
	}
	e.undelivered.Add(1)
	return true
}

func policyOf(err error) Policy {
	if errors.Is(err, mailbox.ErrDropped) {
		return DropNewest
	}
	return Block
}

// onUndelivered counts a publication posted to a node that failed later.
func (e *engine) onUndelivered(node uint64, out *mailbox.Outgoing, err error) {
	if out.Target == flowTarget {
		return // the node is gone, or stuck: its publishers give up waiting on their own
	}
	e.failed(node, out.Target, err)
}

// onPublish fans a publication from another node out to this node's
// subscriptions; it runs on the inbox pump and never waits (flow.go).
func (e *engine) onPublish(m *mailbox.Message) {
	if m.Target == flowTarget {
		e.onFlow(m)
		return
	}
	if err := ValidSubject(m.Target); err != nil {
		e.rejected.Add(1)
		e.host.Warn("topic: publication with a bad subject dropped", "from", fmt.Sprintf("%016x", m.From), "err", err)
		return
	}
	if m.Err != nil {
		e.rejected.Add(1)
		e.host.Warn("topic: undecodable publication dropped", "subject", m.Target, "type", m.Type, "from", fmt.Sprintf("%016x", m.From), "err", m.Err)
		return
	}
	subs := e.local.Load().lookup(m.Target)
	late := parseLate(m.Meta)
	if late != nil {
		e.unknownLate(m.From, late, subs)
	}
	if len(subs) == 0 {
		e.unrouted.Add(1) // unsubscribed an instant ago
		return
	}
	d := delivery{subject: m.Target, msg: m.Value, header: userHeader(m.Meta)}
	if m.SenderID != "" {
		d.reply = proto.NewPID(m.SenderAddress, m.SenderID)
	}
	for _, s := range subs {
		s.accept(m.From, d, s.lateFor(late))
	}
}

// hold makes this node a holder of the registry name for a subscription
// and, for the first subscription under that name, waits until every node
// routes to it.
func (e *engine) hold(name, target string, confirm time.Duration) (*held, error) {
	e.mu.Lock()
	if e.closed.Load() {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	if h := e.names[name]; h != nil {
		h.refs++
		e.mu.Unlock()
		<-h.ready
		if h.err != nil {
			e.release(name, h)
			return nil, h.err
		}
		return h, nil
	}
	h := &held{refs: 1, ready: make(chan struct{})}
	e.names[name] = h
	err := e.host.Registry.Subscribe(name, target)
	e.lgen.Add(1)
	e.mu.Unlock()
	if err == nil {
		if missing := e.host.Barrier(confirm); len(missing) > 0 {
			err = &UnconfirmedError{Nodes: missing, Timeout: confirm}
		}
	}
	h.err = err
	close(h.ready)
	if err != nil {
		e.release(name, h)
		return nil, err
	}
	return h, nil
}

// release drops one subscription's hold of a registry name.
func (e *engine) release(name string, h *held) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h.refs--
	if h.refs > 0 || e.names[name] != h {
		return
	}
	delete(e.names, name)
	if err := e.host.Registry.Unsubscribe(name); err != nil && !e.closed.Load() {
		e.host.Warn("topic: leaving subscription record", "name", name, "err", err)
	}
	e.lgen.Add(1)
}

// addLocal and removeLocal change the plain subscriptions publications
// are fanned out to.
func (e *engine) addLocal(s *Subscription) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		return ErrClosed
	}
	e.subs[s] = struct{}{}
	if s.group == "" {
		old := e.local.Load()
		t := &localTable{subs: append(old.subs[:len(old.subs):len(old.subs)], s)}
		e.local.Store(t)
	}
	return nil
}

func (e *engine) removeLocal(s *Subscription) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.subs[s]; ok {
		// Its counts stay in the pattern's counters, which never go down.
		if e.ended == nil {
			e.ended = map[[2]string]Stats{}
		}
		k, st := [2]string{s.pattern, s.group}, s.Stats()
		old := e.ended[k]
		old.Delivered += st.Delivered
		old.Dropped += st.Dropped
		e.ended[k] = old
	}
	delete(e.subs, s)
	if s.group != "" {
		return
	}
	old := e.local.Load()
	t := &localTable{}
	for _, x := range old.subs {
		if x != s {
			t.subs = append(t.subs, x)
		}
	}
	e.local.Store(t)
}

// close ends every subscription of this node; it runs when the System
// closes.
func (e *engine) close() {
	if e.stopMetrics != nil {
		e.stopMetrics()
	}
	e.mu.Lock()
	e.closed.Store(true)
	lastEngine.CompareAndSwap(e, nil) // let the closed System go
	subs := make([]*Subscription, 0, len(e.subs))
	for s := range e.subs {
		subs = append(subs, s)
	}
	e.mu.Unlock()
	for _, s := range subs {
		s.Unsubscribe()
	}
	e.slow.stop()
}

// consumerProps makes the actor that takes a queue group member's share
// of the group's work queue.
func consumerProps(s *Subscription) *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		subject := ctx.MessageHeader().Get(SubjectHeader)
		if subject == "" {
			return // lifecycle messages
		}
		if s.done.Load() {
			s.discarded.Add(1)
			return
		}
		s.deliver(delivery{subject: subject, msg: ctx.Message(), header: userHeader(ctx.MessageHeader().ToMap()), reply: ctx.Sender()})
	})
}

// newEnvelope wraps a publication for an actor subscriber: the
// publisher's headers and the subject as its header, the requester (for
// ctx.Respond) as its sender.
func newEnvelope(d delivery) *proto.MessageEnvelope {
	h := make(map[string]string, len(d.header)+1)
	for k, v := range d.header {
		h[k] = v
	}
	h[SubjectHeader] = d.subject
	return &proto.MessageEnvelope{Header: h, Message: d.msg, Sender: d.reply}
}
