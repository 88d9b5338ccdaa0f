package topic

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmactor/shmactor/actor"
)

// SubjectHeader is the message header that carries a publication's
// subject to an actor subscriber (see Subject).
const SubjectHeader = "topic.subject"

// Subject returns the subject of the publication an actor is handling,
// or "" when the message is not one.
func Subject(ctx actor.Context) string {
	if ctx == nil {
		return ""
	}
	h := ctx.MessageHeader()
	if h == nil {
		return ""
	}
	return h.Get(SubjectHeader)
}

// Subscription is one subscriber's interest in a pattern. Its methods are
// safe for concurrent use.
type Subscription struct {
	e       *engine
	id      uint64 // the engine's number for it, in flow messages
	pattern string
	group   string
	name    string
	h       *held
	set     settings

	pid      *actor.PID                    // actor subscriber
	fn       func(subject string, msg any) // function subscriber
	msgFn    func(*Msg)                    // Msg function subscriber
	out      chan *Msg                     // channel subscriber (ChanSubscribe, SubscribeSync)
	isSync   bool                          // out is the subscription's own, for NextMsg
	quit     chan struct{}                 // closed when the subscription ends
	endOnce  sync.Once
	relOnce  sync.Once
	draining atomic.Bool
	consumer *actor.PID // queue group member: its work queue consumer
	q        *pending   // plain subscriptions: waiting deliveries
	flow     subFlow    // Block plain subscriptions: pause state (flow.go)

	done                                  atomic.Bool
	delivered, dropped, discarded, panics atomic.Uint64
}

// Stats counts a subscription's deliveries.
type Stats struct {
	Delivered uint64 // handed to the actor, or returned from the function
	Dropped   uint64 // dropped by the slow-consumer policy
	Discarded uint64 // waiting when the subscription ended, never delivered
	Pending   int    // waiting or being handled now; past the limit while a Block subscription is paused (see Block)
	Panics    uint64 // function subscriber calls that panicked
}

// Subscribe delivers every publication on a subject matching pattern to
// the actor pid, as the published message with the subject in its
// SubjectHeader header. When Subscribe returns, every node of the
// namespace routes matching publications to this node: a Publish issued
// anywhere afterwards is delivered.
//
// A nil System or PID makes an error wrapping ErrInvalidArgument; a bad
// pattern, ErrInvalidSubject; a bad or nil option, ErrInvalidOption; a
// closed System, ErrClosed; nodes that do not confirm in time,
// ErrUnconfirmed. The other Subscribe calls fail the same ways.
func Subscribe(sys *actor.System, pattern string, pid *actor.PID, opts ...Option) (*Subscription, error) {
	return subscribe(sys, pattern, "", false, handler{kind: toActor, pid: pid}, opts)
}

// SubscribeFunc calls fn for every publication on a subject matching
// pattern, one call at a time, in publication order for each publisher.
// fn runs on a goroutine of the subscription's own and must not keep msg
// for writing: other subscribers may hold the same value. A nil fn makes
// an error wrapping ErrInvalidArgument.
func SubscribeFunc(sys *actor.System, pattern string, fn func(subject string, msg any), opts ...Option) (*Subscription, error) {
	return subscribe(sys, pattern, "", false, handler{kind: toFunc, fn: fn}, opts)
}

// QueueSubscribe makes the actor pid a member of queue group group for
// pattern: each matching publication goes to exactly one live member of
// the group, in whichever process; other subscribers still get it. The
// group's publications wait in a work queue (package actor's QueuePID)
// that members take from, so a member that dies loses only what it had
// taken. The pending limit and slow-consumer policy do not apply:
// publishers wait for room in the queue as for any send. A bad group name
// makes an error wrapping ErrInvalidGroup.
func QueueSubscribe(sys *actor.System, pattern, group string, pid *actor.PID, opts ...Option) (*Subscription, error) {
	return subscribe(sys, pattern, group, true, handler{kind: toActor, pid: pid}, opts)
}

// QueueSubscribeFunc is QueueSubscribe with a function: fn handles each
// publication the member takes, and the member takes the next one only
// when fn has returned.
func QueueSubscribeFunc(sys *actor.System, pattern, group string, fn func(subject string, msg any), opts ...Option) (*Subscription, error) {
	return subscribe(sys, pattern, group, true, handler{kind: toFunc, fn: fn}, opts)
}

// handler is who a subscription delivers to: an actor, a function of
// subject and message, or a function of a Msg.
type handler struct {
	kind  int
	pid   *actor.PID
	fn    func(subject string, msg any)
	msgFn func(*Msg)
	out   chan *Msg
}

const (
	toActor = iota
	toFunc
	toMsgFunc
	toChan
	toSync
)

// checkSubscribe checks what the Subscribe calls are given: a queue
// group's name when queue, and a handler of its kind.
func checkSubscribe(sys *actor.System, pattern, group string, queue bool, h handler, opts []Option) (settings, error) {
	set := defaults()
	switch {
	case sys == nil:
		return set, fmt.Errorf("%w: nil System", ErrInvalidArgument)
	case h.kind == toActor && h.pid == nil:
		return set, fmt.Errorf("%w: nil PID", ErrInvalidArgument)
	case h.kind == toFunc && h.fn == nil, h.kind == toMsgFunc && h.msgFn == nil:
		return set, fmt.Errorf("%w: nil function", ErrInvalidArgument)
	case h.kind == toChan && h.out == nil:
		return set, fmt.Errorf("%w: nil channel", ErrInvalidArgument)
	}
	if err := ValidPattern(pattern); err != nil {
		return set, err
	}
	if queue {
		if err := ValidGroup(group); err != nil {
			return set, err
		}
	}
	for _, o := range opts {
		if o == nil {
			return set, fmt.Errorf("%w: nil Option", ErrInvalidOption)
		}
		if err := o(&set); err != nil {
			return set, err
		}
	}
	return set, nil
}

func subscribe(sys *actor.System, pattern, group string, queue bool, h handler, opts []Option) (*Subscription, error) {
	op := fmt.Sprintf("subscribe %q", pattern)
	if queue {
		op = fmt.Sprintf("subscribe %q group %q", pattern, group)
	}
	set, err := checkSubscribe(sys, pattern, group, queue, h, opts)
	if err != nil {
		return nil, opErr(op, err)
	}
	e, err := engineOf(sys)
	if err != nil {
		return nil, opErr(op, err)
	}
	name, target := regName(pattern, group)
	s := &Subscription{e: e, id: e.nextID.Add(1), pattern: pattern, group: group, name: name, set: set, pid: h.pid, fn: h.fn, msgFn: h.msgFn, out: h.out, isSync: h.kind == toSync, quit: make(chan struct{})}
	if group == "" {
		s.q = newPending(set.pending)
		go s.run()
	} else {
		if s.consumer, err = sys.ConsumeQueue(queueName(name), consumerProps(s)); err != nil {
			return nil, opErr(op, err)
		}
	}
	if err := e.addLocal(s); err != nil {
		s.stop()
		return nil, opErr(op, err)
	}
	if s.h, err = e.hold(name, target, set.confirm); err != nil {
		s.done.Store(true)
		e.removeLocal(s)
		s.stop()
		return nil, opErr(op, err)
	}
	return s, nil
}

// run delivers a plain subscription's publications, in order.
func (s *Subscription) run() {
	var batch []delivery
	for {
		batch = s.q.take(batch[:0])
		if len(batch) == 0 {
			return // closed
		}
		for i, d := range batch {
			if s.done.Load() {
				s.discarded.Add(uint64(len(batch) - i))
				break
			}
			s.deliver(d)
			s.q.done()
			s.resume(false)
		}
		clear(batch)
	}
}

// deliver hands one publication to the subscriber.
func (s *Subscription) deliver(d delivery) {
	if s.out != nil {
		select {
		case s.out <- &Msg{Subject: d.subject, Header: d.header, Data: d.msg, reply: d.reply, sys: s.e.sys}:
			s.delivered.Add(1)
		case <-s.quit:
			s.discarded.Add(1)
		}
		return
	}
	if s.fn == nil && s.msgFn == nil {
		s.e.sys.Root.Send(s.pid, newEnvelope(d))
		s.delivered.Add(1)
		return
	}
	defer func() {
		if p := recover(); p != nil {
			s.panics.Add(1)
			s.e.host.Warn("topic: subscriber function panicked", "pattern", s.pattern, "subject", d.subject, "panic", fmt.Sprint(p))
		}
	}()
	if s.msgFn != nil {
		s.msgFn(&Msg{Subject: d.subject, Header: d.header, Data: d.msg, reply: d.reply, sys: s.e.sys})
	} else {
		s.fn(d.subject, d.msg)
	}
	s.delivered.Add(1)
}

// offer queues a publication from this node for a plain subscription,
// applying its slow-consumer policy: a Block subscription makes the
// publisher wait for room. (Publications from other nodes come through
// accept, which never waits.)
func (s *Subscription) offer(d delivery) {
	wait := time.Duration(0)
	if s.set.policy == Block {
		wait = s.set.timeout
	}
	ok, closed := s.q.push(d, wait)
	switch {
	case ok:
		return
	case closed:
		s.discarded.Add(1)
		return
	}
	s.drop(d.subject)
}

// drop counts and reports a publication dropped by the slow-consumer
// policy.
func (s *Subscription) drop(subject string) {
	s.dropped.Add(1)
	s.e.dropped.Add(1)
	s.e.host.Warn("topic: slow consumer; publication dropped", "pattern", s.pattern, "subject", subject, "policy", s.set.policy.String(), "pending", s.set.pending)
	s.e.slow.drop(SlowConsumer{Subject: subject, Pattern: s.pattern, Group: s.group, Node: s.e.host.Node, Policy: s.set.policy}, s)
}

// stop ends delivery: the goroutine (or the queue consumer) and what was
// waiting. Nodes held back by the subscription's pause are let go.
func (s *Subscription) stop() {
	if s.q != nil {
		s.discarded.Add(uint64(s.q.close()))
		s.resume(true)
	}
	if s.consumer != nil {
		s.e.host.StopConsumer(s.consumer)
	}
}

// Unsubscribe ends the subscription: nothing more is delivered to it,
// and publications still waiting for it are discarded (counted in
// Stats). The last subscription of a node for a pattern takes the node
// out of the pattern's routing. Unsubscribing twice returns
// ErrUnsubscribed; after the System is closed (which ends every
// subscription), the error is ErrClosed and ErrUnsubscribed.
func (s *Subscription) Unsubscribe() error {
	if !s.done.CompareAndSwap(false, true) {
		op := fmt.Sprintf("unsubscribe %q", s.pattern)
		if s.e.closed.Load() {
			return &opError{op: op, err: closedError{also: ErrUnsubscribed}}
		}
		return &opError{op: op, err: ErrUnsubscribed}
	}
	s.end()
	return nil
}

// end ends the subscription: no more deliveries, what waits discarded,
// the registry name released (once, also after Drain released it).
func (s *Subscription) end() {
	s.endOnce.Do(func() {
		s.e.removeLocal(s)
		close(s.quit)
		s.stop()
		s.release()
		s.e.slow.forget(s)
	})
}

// release drops the subscription's hold of its registry name, once.
func (s *Subscription) release() {
	s.relOnce.Do(func() { s.e.release(s.name, s.h) })
}

// Pattern returns the subscription's pattern.
func (s *Subscription) Pattern() string { return s.pattern }

// Group returns the subscription's queue group, "" for none.
func (s *Subscription) Group() string { return s.group }

// Stats returns the subscription's counters.
func (s *Subscription) Stats() Stats {
	st := Stats{Delivered: s.delivered.Load(), Dropped: s.dropped.Load(), Discarded: s.discarded.Load(), Panics: s.panics.Load()}
	if s.q != nil {
		st.Pending = s.q.len()
	}
	return st
}

// Publish publishes msg on subject to every matching subscription in the
// namespace: once to each node that has subscribers (sealed for that
// node), which hands it to its own subscribers; once to each queue group.
// Subscribers in this process get msg itself, without serialization. A
// subject nobody subscribes to costs a lookup and nothing else.
//
// Publish returns an error for a nil System or message
// (ErrInvalidArgument), a bad subject (ErrInvalidSubject), a message type
// not registered for crossing processes when another process subscribes
// (actor.ErrUnregistered), a message that cannot be encoded
// (actor.ErrEncode), or a closed System (ErrClosed). A publication of
// any size is sent: one too large for a subscriber's inbox travels out
// of line (actor.WithOutOfLineQuota); past the quota Publish returns
// mailbox.ErrQuota.
// Publications dropped because a subscriber does not keep up are not
// errors of the publisher's: they are counted and reported as
// SlowConsumer events. A Block subscription in this process makes Publish
// wait for room; one in another process makes it wait, up to the
// subscription's Block timeout, once that subscription has fallen behind
// and paused this node (see WithSlowConsumer). Publications to other
// subjects, and to other nodes, do not wait for it.
func Publish(sys *actor.System, subject string, msg any) error {
	return publish(sys, delivery{subject: subject, msg: msg})
}

// NodeStats counts a node's publications.
type NodeStats struct {
	Published   uint64 // Publish calls with a valid subject
	Sent        uint64 // envelopes queued for other nodes and queue groups
	Dropped     uint64 // publications dropped for slow consumers, here or at a node's full inbox
	Waited      uint64 // publications held back for a subscription of another node that paused this node
	Undelivered uint64 // publications for nodes that were gone, or that could not be encoded
	Unrouted    uint64 // publications received for subscriptions that had just ended
	Rejected    uint64 // publications received with a bad subject or undecodable payload
}

// StatsOf returns sys's publication counters; a nil System makes
// ErrInvalidArgument, a closed one ErrClosed.
func StatsOf(sys *actor.System) (NodeStats, error) {
	if sys == nil {
		return NodeStats{}, opErr("stats", fmt.Errorf("%w: nil System", ErrInvalidArgument))
	}
	e, err := engineOf(sys)
	if err != nil {
		return NodeStats{}, opErr("stats", err)
	}
	return NodeStats{
		Published: e.published.Load(), Sent: e.sent.Load(), Dropped: e.dropped.Load(), Waited: e.waited.Load(),
		Undelivered: e.undelivered.Load(), Unrouted: e.unrouted.Load(), Rejected: e.rejected.Load(),
	}, nil
}

// UnconfirmedError is the ErrUnconfirmed of a Subscribe: the nodes that
// did not confirm routing within the timeout (a process stopped, or
// overloaded).
type UnconfirmedError struct {
	Nodes   []uint64
	Timeout time.Duration
}

// Error describes the error.
func (e *UnconfirmedError) Error() string {
	ids := make([]string, len(e.Nodes))
	for i, n := range e.Nodes {
		ids[i] = fmt.Sprintf("%016x", n)
	}
	return fmt.Sprintf("%v: node(s) %s did not answer within %v", ErrUnconfirmed, strings.Join(ids, ", "), e.Timeout)
}

// Unwrap returns ErrUnconfirmed.
func (e *UnconfirmedError) Unwrap() error { return ErrUnconfirmed }
