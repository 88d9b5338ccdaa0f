package actor

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	proto "github.com/asynkron/protoactor-go/actor"

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
		r.sys.undeliverable(pid, message, err)
	}
}

// send encodes and queues one user message.
func (r *remote) send(pid *proto.PID, msg any, sender *proto.PID, header ...proto.ReadonlyMessageHeader) error {
	if r.gone.Load() {
		return fmt.Errorf("%w: node %016x", mailbox.ErrNodeGone, r.node)
	}
	out := &mailbox.Outgoing{Kind: wire.KindUser, Target: pid.Id, Value: msg}
	if sender != nil {
		out.SenderAddress, out.SenderID, out.Corr = sender.Address, sender.Id, uint64(sender.RequestId)
		if sender.Address == r.sys.addr && strings.HasPrefix(sender.Id, "future") {
			r.sys.links.waiting(r.node, sender.Id)
		}
	}
	if len(header) > 0 && header[0] != nil && header[0].Length() > 0 {
		out.Meta = header[0].ToMap()
	}
	err := r.post(out)
	if err != nil && out.SenderID != "" && sender.Address == r.sys.addr {
		r.sys.links.answered(r.node, sender.Id) // never sent: no answer to wait for
	}
	return err
}

// post queues a message to the node. It returns at once; a message that
// fails later comes back through undelivered.
func (r *remote) post(out *mailbox.Outgoing) error {
	return sendErr(r.sys.mb.Post(r.node, out))
}

// sendErr says in this package's terms what the mailbox reports about a
// message it refused: an unregistered type (ErrUnregistered), a message
// that cannot be encoded (ErrEncode), mailboxes closed with the System
// (ErrClosed). Other errors (mailbox.ErrTooLarge, mailbox.ErrNodeGone,
// ...) are returned as they are.
func sendErr(err error) error {
	if err == nil {
		return nil
	}
	var ue *wire.UnregisteredTypeError
	switch {
	case errors.As(err, &ue) && ue.Refused != nil:
		return fmt.Errorf("%w: %v: its registration was refused: %w", ErrUnregistered, ue.Type, ue.Refused)
	case errors.As(err, &ue):
		return unregistered(ue.Type)
	case errors.Is(err, wire.ErrEncode):
		return fmt.Errorf("%w: %s", ErrEncode, strings.TrimPrefix(err.Error(), wire.ErrEncode.Error()+" "))
	case errors.Is(err, mailbox.ErrClosed):
		return ErrClosed
	}
	return err
}

// unregistered is the error for a message of type t, which is not
// registered.
func unregistered(t reflect.Type) error {
	if _, named := wire.DefaultName(t); !named {
		return fmt.Errorf("%w: %v (a type without a package-qualified name: register it with RegisterMessageName in every process that sends or receives it)", ErrUnregistered, t)
	}
	return fmt.Errorf("%w: %v (register it with RegisterMessage in every process that sends or receives it)", ErrUnregistered, t)
}

// SendSystemMessage sends a system message: Watch, Unwatch, Terminated,
// Stop, and the supervision directives Restart and ResumeMailbox (sent to
// a child supervised from another process, see supervise.go) cross
// processes; watches are remembered, so that the watcher gets Terminated
// if the node dies.
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
	case *proto.Terminated, *proto.Stop, *proto.Restart, *proto.ResumeMailbox:
	default:
		// Failure and SuspendMailbox stay within a process: a failure
		// crosses as childFailed.
		r.sys.warn("shmactor: system message does not cross processes; dropped", "message", fmt.Sprintf("%T", message), "to", pid.String())
		r.sys.nUndelivered.Add(1)
		return
	}
	if err := r.post(&mailbox.Outgoing{Kind: wire.KindSystem, Target: pid.Id, Value: message}); err != nil {
		r.sys.systemUndelivered(r.node, pid, message, err)
	}
}

// Stop stops the actor.
func (r *remote) Stop(pid *proto.PID) { r.SendSystemMessage(pid, &proto.Stop{}) }

// undelivered is the mailbox's report of a posted message that could not
// be delivered.
func (s *System) undelivered(node uint64, out *mailbox.Outgoing, err error) {
	address := s.NodeAddress(node)
	if node&(1<<63) != 0 {
		address = s.prefix + queueNode
	}
	pid := proto.NewPID(address, out.Target)
	switch out.Kind {
	case wire.KindUser:
		var msg any = out.Value
		if out.SenderID != "" || len(out.Meta) > 0 {
			env := &proto.MessageEnvelope{Message: out.Value, Header: out.Meta}
			if out.SenderID != "" {
				env.Sender = proto.NewPID(out.SenderAddress, out.SenderID)
				env.Sender.RequestId = uint32(out.Corr)
			}
			msg = env
		}
		s.undeliverable(pid, msg, err)
	case wire.KindSystem:
		s.systemUndelivered(node, pid, out.Value, err)
	case wire.KindPublish:
		if !s.host.Undelivered(node, out, err) {
			s.nUndelivered.Add(1)
			s.warn("shmactor: publication not delivered", "node", fmt.Sprintf("%016x", node), "subject", out.Target, "err", err)
		}
	default:
		s.nUndelivered.Add(1)
		s.warn("shmactor: control message not delivered", "node", fmt.Sprintf("%016x", node), "message", fmt.Sprintf("%T", out.Value), "err", err)
	}
}

// watchRetry is how often a system message refused by a full inbox is
// sent again.
const watchRetry = 100 * time.Millisecond

// systemUndelivered counts a system message that could not be delivered;
// a Watch that cannot reach its actor ends at once with Terminated. A
// system message refused only because the actor's inbox was full (its
// node lives) is sent again until it lands or the node goes instead: a
// busy node is not taken for a dead one, and a Stop, a Terminated or a
// supervisor's directive is not lost to back-pressure.
func (s *System) systemUndelivered(node uint64, pid *proto.PID, message any, err error) {
	if errors.Is(err, mailbox.ErrFull) || errors.Is(err, mailbox.ErrDropped) {
		s.warn("shmactor: a system message found the actor's inbox full; sending it again", "message", fmt.Sprintf("%T", message), "to", pid.String())
		time.AfterFunc(watchRetry, func() {
			s.rmu.Lock()
			r := s.remotes[node] // nil once the node is gone: nothing to retry
			s.rmu.Unlock()
			if r != nil && !s.closed.Load() && s.stillWanted(node, pid, message) {
				r.SendSystemMessage(pid, message)
			}
		})
		return
	}
	s.nUndelivered.Add(1)
	s.warn("shmactor: system message not delivered", "message", fmt.Sprintf("%T", message), "to", pid.String(), "err", err)
	if w, ok := message.(*proto.Watch); ok {
		s.links.unwatch(node, w.Watcher.Id, pid.Id)
		s.terminated(w.Watcher.Id, pid, proto.TerminatedReason_AddressTerminated)
	}
}

// stillWanted reports whether a refused system message is still to be
// sent again. The table of watches says what was asked last: a Watch is
// not sent again once unwatched (or once its node went and its watcher
// was told), nor an Unwatch once watched again, so a retry never undoes
// a later request.
func (s *System) stillWanted(node uint64, pid *proto.PID, message any) bool {
	switch m := message.(type) {
	case *proto.Watch:
		return s.links.watching(node, m.Watcher.Id, pid.Id)
	case *proto.Unwatch:
		return !s.links.watching(node, m.Watcher.Id, pid.Id)
	}
	return true
}

// undeliverable counts a message that could not be sent and hands it to
// the dead letter process, which publishes a DeadLetterEvent and answers a
// waiting requester with DeadLetterResponse.
func (s *System) undeliverable(pid *proto.PID, message any, err error) {
	s.nUndelivered.Add(1)
	s.warn("shmactor: message not delivered", "to", pid.String(), "message", fmt.Sprintf("%T", msgOf(message)), "err", err)
	s.DeadLetter.SendUserMessage(pid, message)
}

func msgOf(message any) any {
	_, m, _ := proto.UnwrapEnvelope(message)
	return m
}
