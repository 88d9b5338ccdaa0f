package actor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/mailbox"
)

// Supervision across processes (docs/architecture.md, "Supervision
// across processes").
//
// A parent supervises a child of a kind that runs in another process
// through a stand-in: a protoactor Process (not an actor) that lives in
// the parent's process, is spawned as the parent's child and stands for
// the child there. The parent's context counts the stand-in among its
// children, so its supervisor strategy works unchanged — OneForOne,
// AllForOne, exponential backoff, deciders, restart counts and windows:
//
//   - The child is spawned under a guardian of its own process whose
//     strategy forwards each failure (panic) to the stand-in; the child's
//     mailbox stays suspended, its messages kept.
//   - The stand-in reports the failure to the parent as a Failure of its
//     own, with the restart statistics it keeps for the child.
//   - The strategy's directive reaches the stand-in as a system message
//     (ResumeMailbox, Restart, Stop), which it forwards to the child: the
//     directive is carried out where the child lives. Escalate is the
//     parent's own business, as in protoactor.
//   - When the child's node goes (its process killed, or closed), the
//     stand-in reports a failure whose reason wraps mailbox.ErrNodeGone;
//     Restart (or Resume) spawns the child again on a node that offers the
//     kind, and messages sent meanwhile wait for it. A child whose node
//     goes while its panic awaits the parent's directive is not reported
//     twice: that directive spawns it again.
//   - The child is linked to the stand-in: when the parent's process
//     dies, the child is stopped.

// ChildFailure is the reason a parent's supervisor strategy gets (in
// Failure, and so in its Decider) when a child spawned SupervisedBy it
// fails in another process.
type ChildFailure struct {
	// Kind is the child's kind.
	Kind string
	// Child is the actor that failed, in the process it ran in; nil when
	// it could not be spawned again.
	Child *PID
	// Panic is the value the child panicked with, as fmt.Sprint prints
	// it (at most 1 KiB); empty when it did not panic.
	Panic string
	// Err says why the child is gone when it did not panic: it wraps
	// mailbox.ErrNodeGone when the child's node went (its process killed
	// or closed), or is SpawnKind's error when the child could not be
	// spawned again.
	Err error
}

// Error says which child failed, and how.
func (f *ChildFailure) Error() string {
	who := fmt.Sprintf("child of kind %q", f.Kind)
	if f.Child != nil {
		who += " " + pidText(f.Child)
	}
	if f.Err != nil {
		return "shmactor: " + who + ": " + f.Err.Error()
	}
	return "shmactor: " + who + " panicked: " + f.Panic
}

// Unwrap returns Err.
func (f *ChildFailure) Unwrap() error { return f.Err }

// SupervisedBy makes the new actor a child of parent's actor, supervised
// by its supervisor strategy (the one its Props were given, as for local
// children) although it runs in another process: a panic there is
// decided by the parent's strategy and the decision carried out where
// the child runs; the child's node going is a failure too, and Restart
// then spawns the child again on a node that offers the kind. The child
// is stopped when the parent stops, restarts, or its process dies.
//
// Call SpawnKind with it from parent's Receive: a Context is only valid
// there. SpawnKind then returns the child's PID as the parent knows it:
// a PID of this process that stays the same when the child is spawned
// again elsewhere, and forwards what it is sent to the actor wherever it
// runs now (a hop through this process for senders elsewhere). The
// parent gets Terminated for it when the child stops for good. With
// SupervisedBy, LinkedTo is refused (the child is linked to its parent
// already).
func SupervisedBy(parent Context) SpawnOption {
	return func(o *spawnOptions) { o.parent = parent }
}

// childFailed is a supervised actor's failure, sent by its guardian to
// its stand-in.
type childFailed struct {
	Address, ID string // the failed actor
	Reason      string
}

func init() {
	if err := RegisterMessageName[*childFailed]("shmactor.childFailed"); err != nil {
		panic(err)
	}
}

// maxPanicText bounds the panic text a failure report carries.
const maxPanicText = 1024

// failureForwarder is the strategy of the guardian of actors supervised
// from another process: it sends each failure to the actor's stand-in,
// leaving the actor suspended until the directive comes back.
type failureForwarder struct{ sys *System }

// HandleFailure forwards the failure of child; an actor whose stand-in
// cannot be told (its parent's process is gone) is stopped.
func (f *failureForwarder) HandleFailure(asys *proto.ActorSystem, sup proto.Supervisor, child *PID, rs *proto.RestartStatistics, reason, message any) {
	s := f.sys
	s.kinds.mu.Lock()
	standIn := s.kinds.supervised[child.Id]
	s.kinds.mu.Unlock()
	if standIn == nil {
		proto.DefaultSupervisorStrategy().HandleFailure(asys, sup, child, rs, reason, message)
		return
	}
	text := fmt.Sprint(reason)
	if len(text) > maxPanicText {
		text = text[:maxPanicText]
	}
	if err := s.sendWith(standIn, &childFailed{Address: s.addr, ID: child.Id, Reason: text}, nil, nil); err != nil {
		s.warn("shmactor: a supervised actor failed and its parent cannot be told; stopping it", "actor", pidText(child), "reason", text, "err", err)
		sup.StopChildren(child)
	}
}

// spawnSupervised is SpawnKind with SupervisedBy: it spawns the stand-in
// as o.parent's child, and the child of kind from it.
func (s *System) spawnSupervised(ctx context.Context, kind string, o spawnOptions) (*PID, error) {
	if o.link != nil {
		return nil, fmt.Errorf("%w: spawn kind %q: LinkedTo with SupervisedBy (a supervised child is linked to its parent already)", ErrInvalidArgument, kind)
	}
	parent := o.parent
	if parent.Self() == nil {
		return nil, fmt.Errorf("%w: spawn kind %q: SupervisedBy a Context that is not an actor's", ErrInvalidArgument, kind)
	}
	if s.closed.Load() {
		return nil, fmt.Errorf("%w: spawn kind %q", ErrClosed, kind)
	}
	r := &remoteChild{sys: s, kind: kind, name: o.name, rs: proto.NewRestartStatistics()}
	props := proto.PropsFromFunc(func(proto.Context) {}, proto.WithSpawnFunc(
		func(asys *proto.ActorSystem, id string, _ *Props, pc proto.SpawnerContext) (*PID, error) {
			self, ok := asys.ProcessRegistry.Add(r, id)
			if !ok {
				return nil, fmt.Errorf("%w: %s", proto.ErrNameExists, id)
			}
			r.self, r.parent = self, pc.Self()
			so := o
			so.parent, so.link, so.sup = nil, self, self
			child, err := s.spawnKind(ctx, kind, so)
			if err != nil {
				asys.ProcessRegistry.Remove(self)
				return nil, err
			}
			r.started(child)
			return self, nil
		}))
	return parent.SpawnNamed(props, kind+s.ProcessRegistry.NextId())
}

// childState is where a supervised child stands, as its stand-in sees it.
type childState uint8

const (
	childStarting childState = iota // being spawned, the first time or again
	childRunning
	childPanicked // it panicked: suspended until the parent's directive
	childLost     // its node went: waits for the parent's directive
	childStopping // asked to stop; its Terminated ends the stand-in
	childStopped
)

// maxHeld bounds the messages a stand-in keeps while no child runs;
// more are dead letters.
const maxHeld = 65536

// remoteChild is the stand-in of a child supervised from this process
// (see above). Its methods are called from any goroutine.
type remoteChild struct {
	sys          *System
	kind, name   string
	self, parent *PID
	rs           *proto.RestartStatistics // used on the parent's goroutine only

	mu       sync.Mutex
	state    childState
	child    *PID               // the actor now; nil while none runs
	cancel   context.CancelFunc // ends the spawn under way, if any
	early    *childFailed       // a failure reported before its spawn was answered
	held     []any              // messages that wait for a child to run
	watchers []*PID
}

var _ proto.Process = (*remoteChild)(nil)

// SendUserMessage forwards message to the child, or keeps it while the
// child is being spawned again.
func (r *remoteChild) SendUserMessage(_ *PID, message any) {
	if f, ok := message.(*childFailed); ok {
		r.failed(f)
		return
	}
	r.mu.Lock()
	switch r.state {
	case childRunning, childPanicked: // a failed child's mailbox keeps messages
		c := r.child
		r.mu.Unlock()
		r.forward(c, message)
		return
	case childStarting, childLost:
		if len(r.held) < maxHeld {
			r.held = append(r.held, message)
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		r.sys.undeliverable(r.self, message, fmt.Errorf("%w: %d messages wait for the supervised child to be spawned again", mailbox.ErrFull, maxHeld))
		return
	}
	r.mu.Unlock()
	r.sys.undeliverable(r.self, message, fmt.Errorf("%w: the supervised child has stopped", ErrClosed))
}

// forward sends message to child. One that finds the child's node gone
// waits for the child to be spawned again: Terminated is on its way.
func (r *remoteChild) forward(child *PID, message any) {
	node, ok := r.sys.nodeOf(child.Address)
	if !ok || node == r.sys.id {
		p, _ := r.sys.ProcessRegistry.Get(child)
		p.SendUserMessage(child, message)
		return
	}
	header, msg, sender := proto.UnwrapEnvelope(message)
	err := r.sys.remote(node).send(child, msg, sender, header)
	if err == nil {
		return
	}
	r.mu.Lock()
	if isNodeGone(err) && r.state != childStopping && r.state != childStopped {
		if c := r.child; c != nil && !samePID(c, child) && (r.state == childRunning || r.state == childPanicked) {
			// The child was spawned again meanwhile: to the new one.
			r.mu.Unlock()
			r.forward(c, message)
			return
		}
		if len(r.held) < maxHeld {
			r.held = append(r.held, message)
			r.mu.Unlock()
			return
		}
	}
	r.mu.Unlock()
	r.sys.undeliverable(child, message, err)
}

func isNodeGone(err error) bool { return err != nil && errors.Is(err, mailbox.ErrNodeGone) }

// SendSystemMessage takes the parent's directives and the child's
// Terminated, and keeps the stand-in's watchers.
func (r *remoteChild) SendSystemMessage(_ *PID, message any) {
	switch m := message.(type) {
	case *proto.Watch:
		r.mu.Lock()
		if r.state != childStopped {
			r.watchers = append(r.watchers, m.Watcher)
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		r.sysSend(m.Watcher, &proto.Terminated{Who: r.self, Why: proto.TerminatedReason_Stopped})
	case *proto.Unwatch:
		r.mu.Lock()
		for i, w := range r.watchers {
			if samePID(w, m.Watcher) {
				r.watchers = append(r.watchers[:i], r.watchers[i+1:]...)
				break
			}
		}
		r.mu.Unlock()
	case *proto.Stop:
		r.stop()
	case *proto.Restart, *proto.ResumeMailbox:
		r.directive(message)
	case *proto.Terminated:
		r.terminated(m)
	}
}

// Stop stops the child, and then the stand-in.
func (r *remoteChild) Stop(pid *PID) { r.SendSystemMessage(pid, &proto.Stop{}) }

// started records child as the actor now, sends it the messages that
// waited, and watches it.
func (r *remoteChild) started(child *PID) {
	r.mu.Lock()
	if r.state == childStopping {
		r.mu.Unlock()
		r.sysSend(child, &proto.Stop{})
		r.finish()
		return
	}
	r.child, r.state = child, childRunning
	for _, m := range r.held { // under the lock: before any newer message
		r.forwardLocked(child, m)
	}
	r.held = nil
	early := r.early
	r.early = nil
	failed := early != nil && early.Address == child.Address && early.ID == child.Id
	if failed {
		r.state = childPanicked
	}
	r.mu.Unlock()
	// Not under the lock: a Watch of an actor already gone (stopped, or
	// its node known gone) is answered with Terminated at once, on this
	// goroutine.
	r.sysSend(child, &proto.Watch{Watcher: r.self})
	if failed {
		r.report(&ChildFailure{Kind: r.kind, Child: child, Panic: early.Reason})
	}
}

// forwardLocked is forward for a caller that holds r.mu: a message that
// finds the child's node gone is a dead letter.
func (r *remoteChild) forwardLocked(child *PID, message any) {
	p, _ := r.sys.ProcessRegistry.Get(child)
	p.SendUserMessage(child, message)
}

// failed takes the child's report of a panic.
func (r *remoteChild) failed(f *childFailed) {
	r.mu.Lock()
	switch {
	case r.state == childStarting:
		r.early = f
	case r.state == childRunning && r.child != nil && r.child.Address == f.Address && r.child.Id == f.ID:
		r.state = childPanicked
		c := r.child
		r.mu.Unlock()
		r.report(&ChildFailure{Kind: r.kind, Child: c, Panic: f.Reason})
		return
	}
	r.mu.Unlock()
}

// report tells the parent that its child failed, as protoactor's
// children do: the parent's strategy decides.
func (r *remoteChild) report(reason *ChildFailure) {
	if r.sys.closed.Load() {
		return
	}
	r.sysSend(r.parent, &proto.Failure{Who: r.self, Reason: reason, RestartStats: r.rs})
}

// directive carries out the parent's Restart or ResumeMailbox: the
// child's process does it, or, when the child's node is gone, the child
// is spawned again.
func (r *remoteChild) directive(d any) {
	r.mu.Lock()
	switch r.state {
	case childPanicked:
		r.state = childRunning
		c := r.child
		r.mu.Unlock()
		r.sysSend(c, d)
		return
	case childRunning:
		if _, ok := d.(*proto.Restart); ok { // AllForOne restarts siblings
			c := r.child
			r.mu.Unlock()
			r.sysSend(c, d)
			return
		}
	case childLost:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r.state, r.cancel = childStarting, cancel
		r.mu.Unlock()
		go r.respawn(ctx, cancel)
		return
	}
	r.mu.Unlock()
}

// respawn spawns the child again on a node that offers its kind, unless
// ctx ends first (the stand-in is stopped).
func (r *remoteChild) respawn(ctx context.Context, cancel context.CancelFunc) {
	defer cancel()
	child, err := r.sys.spawnKind(ctx, r.kind, spawnOptions{name: r.name, link: r.self, sup: r.self})
	if err == nil {
		r.started(child)
		return
	}
	r.mu.Lock()
	if r.state == childStopping {
		r.mu.Unlock()
		r.finish()
		return
	}
	r.state = childLost
	r.mu.Unlock()
	r.report(&ChildFailure{Kind: r.kind, Err: err})
}

// stop stops the child; its Terminated ends the stand-in.
func (r *remoteChild) stop() {
	r.mu.Lock()
	switch r.state {
	case childRunning, childPanicked:
		r.state = childStopping
		c := r.child
		r.mu.Unlock()
		r.sysSend(c, &proto.Stop{})
	case childStarting:
		// The spawn under way is abandoned (a child it makes is stopped)
		// and then ends the stand-in.
		r.state = childStopping
		cancel := r.cancel
		r.mu.Unlock()
		if cancel != nil {
			cancel()
		}
	case childLost:
		r.state = childStopping
		r.mu.Unlock()
		r.finish()
	default:
		r.mu.Unlock()
	}
}

// terminated takes the child's Terminated: its node gone is a failure
// for the parent to decide on; otherwise the stand-in ends with it.
func (r *remoteChild) terminated(t *proto.Terminated) {
	r.mu.Lock()
	if r.child == nil || t.Who == nil || !samePID(t.Who, r.child) {
		r.mu.Unlock()
		return
	}
	c := r.child
	switch {
	case r.state == childStopping:
	case t.Why == proto.TerminatedReason_AddressTerminated && r.state == childPanicked:
		// Its panic awaits the parent's decision: not a second failure.
		// The directive, when it comes, spawns the child again.
		r.child, r.state = nil, childLost
		r.mu.Unlock()
		return
	case t.Why == proto.TerminatedReason_AddressTerminated:
		r.child, r.state = nil, childLost
		r.mu.Unlock()
		r.report(&ChildFailure{Kind: r.kind, Child: c, Err: fmt.Errorf("%w: the node of %s", mailbox.ErrNodeGone, pidText(c))})
		return
	default: // it stopped itself, or was stopped from elsewhere
		r.state = childStopping
	}
	r.mu.Unlock()
	r.finish()
}

// finish ends the stand-in: the parent and the watchers get Terminated,
// messages that waited are dead letters.
func (r *remoteChild) finish() {
	r.mu.Lock()
	if r.state == childStopped {
		r.mu.Unlock()
		return
	}
	r.state = childStopped
	held, watchers := r.held, r.watchers
	r.held, r.watchers = nil, nil
	r.mu.Unlock()
	r.sys.ProcessRegistry.Remove(r.self)
	for _, m := range held {
		r.sys.undeliverable(r.self, m, fmt.Errorf("%w: the supervised child has stopped", ErrClosed))
	}
	t := &proto.Terminated{Who: r.self, Why: proto.TerminatedReason_Stopped}
	r.sysSend(r.parent, t)
	for _, w := range watchers {
		r.sysSend(w, t)
	}
}

// sysSend sends a system message to pid, wherever it is.
func (r *remoteChild) sysSend(pid *PID, message any) {
	p, _ := r.sys.ProcessRegistry.Get(pid)
	p.SendSystemMessage(pid, message)
}

// samePID says whether a and b name the same process (request ids aside).
func samePID(a, b *PID) bool { return a.Address == b.Address && a.Id == b.Id }
