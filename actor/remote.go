package actor

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/internal/seal"
	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/mailbox"
)

// remote is the protoactor-go Process of every PID on one other node:
// it encodes, seals and pushes messages into that node's inbox.
// protoactor-go caches it on each PID, so one remote serves a node for the
// life of the system.
type remote struct {
	sys  *System
	node uint64
	gone atomic.Bool
}

var _ proto.Process = (*remote)(nil)

// SendUserMessage sends a user message; what cannot be delivered becomes
// a dead letter (and a DeadLetterResponse to a waiting requester).
func (r *remote) SendUserMessage(pid *proto.PID, message any) {
	header, msg, sender := proto.UnwrapEnvelope(message)
	if err := r.send(pid, msg, sender, header); err != nil {
		r.undeliverable(pid, message, err)
	}
}

// send encodes and pushes one user message.
func (r *remote) send(pid *proto.PID, msg any, sender *proto.PID, header ...proto.ReadonlyMessageHeader) error {
	if r.gone.Load() {
		return fmt.Errorf("%w: node %016x", mailbox.ErrNodeGone, r.node)
	}
	out := mailbox.Outgoing{Kind: wire.KindUser, Target: pid.Id, Value: msg}
	if sender != nil {
		out.SenderAddress, out.SenderID, out.Corr = sender.Address, sender.Id, uint64(sender.RequestId)
		if sender.Address == r.sys.addr && strings.HasPrefix(sender.Id, "future") {
			r.sys.links.waiting(r.node, sender.Id)
		}
	}
	if len(header) > 0 && header[0] != nil && header[0].Length() > 0 {
		out.Meta = header[0].ToMap()
	}
	return r.push(&out)
}

// push sends through the mailbox, meeting a node that joined an instant
// ago if the sealer does not know it yet.
func (r *remote) push(out *mailbox.Outgoing) error {
	err := r.sys.mb.Send(r.node, out)
	if errors.Is(err, seal.ErrUnknownPeer) && r.sys.meet(r.node) {
		err = r.sys.mb.Send(r.node, out)
	}
	var ue *wire.UnregisteredTypeError
	if errors.As(err, &ue) {
		return fmt.Errorf("%w: %v", ErrUnregistered, err)
	}
	return err
}

// SendSystemMessage sends a system message: Watch, Unwatch, Terminated and
// Stop cross processes; watches are remembered, so that the watcher gets
// Terminated if the node dies.
func (r *remote) SendSystemMessage(pid *proto.PID, message any) {
	switch m := message.(type) {
	case *proto.Watch:
		if r.gone.Load() {
			r.sys.terminated(m.Watcher.Id, pid, proto.TerminatedReason_AddressTerminated)
			return
		}
		r.sys.links.watch(r.node, m.Watcher.Id, pid.Id)
	case *proto.Unwatch:
		r.sys.links.unwatch(r.node, m.Watcher.Id, pid.Id)
	case *proto.Terminated, *proto.Stop:
	default:
		// Supervision (Failure, Restart, ...) stays within a process.
		r.sys.warn("shmactor: system message does not cross processes; dropped", "message", fmt.Sprintf("%T", message), "to", pid.String())
		r.sys.undeliverable.Add(1)
		return
	}
	err := r.push(&mailbox.Outgoing{Kind: wire.KindSystem, Target: pid.Id, Value: message})
	if err == nil {
		return
	}
	r.sys.undeliverable.Add(1)
	r.sys.warn("shmactor: system message not delivered", "message", fmt.Sprintf("%T", message), "to", pid.String(), "err", err)
	if w, ok := message.(*proto.Watch); ok {
		// A watch that cannot reach its actor ends at once.
		r.sys.links.unwatch(r.node, w.Watcher.Id, pid.Id)
		r.sys.terminated(w.Watcher.Id, pid, proto.TerminatedReason_AddressTerminated)
	}
}

// Stop stops the actor.
func (r *remote) Stop(pid *proto.PID) { r.SendSystemMessage(pid, &proto.Stop{}) }

// undeliverable counts a message that could not be sent and hands it to
// the dead letter process, which publishes a DeadLetterEvent and answers a
// waiting requester with DeadLetterResponse.
func (r *remote) undeliverable(pid *proto.PID, message any, err error) {
	r.sys.undeliverable.Add(1)
	r.sys.warn("shmactor: message not delivered", "to", pid.String(), "message", fmt.Sprintf("%T", msgOf(message)), "err", err)
	r.sys.DeadLetter.SendUserMessage(pid, message)
}

func msgOf(message any) any {
	_, m, _ := proto.UnwrapEnvelope(message)
	return m
}
