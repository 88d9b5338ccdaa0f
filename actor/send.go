package actor

import (
	"errors"
	"fmt"
	"time"

	proto "github.com/asynkron/protoactor-go/actor"
)

// localAddress is protoactor-go's address for PIDs of this process made
// without one (NewPID("nonhost", id)); PIDs of spawned actors carry the
// node's address.
const localAddress = "nonhost"

// Send sends msg to pid, like Root.Send, but returns the problems known
// when it queues the message instead of only dead-lettering them: a nil
// PID or message (ErrInvalidArgument), a PID of no node of this namespace
// (ErrNotShmPID; for another machine's node, "host:port", from a System
// without WithRemote, an error that is also ErrNoRemote), an unregistered type (ErrUnregistered), a message that
// cannot be encoded (ErrEncode), a node that is gone
// (mailbox.ErrNodeGone), a full send queue (per the back-pressure policy:
// mailbox.ErrFull, mailbox.ErrDropped), a message too large for the
// receiver's inbox that would pass the out-of-line quota
// (mailbox.ErrQuota) or, with out-of-line messages off, any message too
// large for it (mailbox.ErrTooLarge), a closed System (ErrClosed). A
// message of any size is sent: one too large for the receiver's inbox
// travels out of line (WithOutOfLineQuota). A message that fails
// after it was queued (the receiver's inbox stayed full, the node died) is
// a dead letter and counted in Stats. Local PIDs are sent to directly,
// without serialization. Sends to a work queue's PID (QueuePID) report
// their problems the same way.
func (s *System) Send(pid *PID, msg any) error {
	if err := s.checkSend("send", pid, msg); err != nil {
		return err
	}
	return s.send(pid, msg, nil)
}

// Request sends msg to pid and waits up to timeout for the answer. It
// reports what Send reports, at once, and a timeout that is not positive
// as ErrInvalidArgument; a request that is delivered and not answered in
// time fails with ErrTimeout, one whose target does not exist or whose
// node dies before answering with ErrDeadLetter.
func (s *System) Request(pid *PID, msg any, timeout time.Duration) (any, error) {
	if err := s.checkSend("request", pid, msg); err != nil {
		return nil, err
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("%w: request to %s: timeout %v, want more than 0", ErrInvalidArgument, pidText(pid), timeout)
	}
	return s.request(pid, msg, timeout, nil)
}

// request is Request with the message's headers (nil for none).
func (s *System) request(pid *PID, msg any, timeout time.Duration, header map[string]string) (any, error) {
	f := proto.NewFuture(s.ActorSystem, timeout)
	if err := s.sendWith(pid, msg, f.PID(), header); err != nil {
		if p, ok := s.ProcessRegistry.GetLocal(f.PID().Id); ok {
			p.Stop(f.PID()) // ends the future and its timer
		}
		return nil, err
	}
	return f.Result()
}

// checkSend checks what Send and Request are given.
func (s *System) checkSend(op string, pid *PID, msg any) error {
	switch {
	case s.closed.Load():
		if pid == nil {
			return fmt.Errorf("%w: %s", ErrClosed, op)
		}
		return fmt.Errorf("%w: %s to %s", ErrClosed, op, pidText(pid))
	case pid == nil:
		return fmt.Errorf("%w: %s to a nil PID", ErrInvalidArgument, op)
	case msg == nil:
		return fmt.Errorf("%w: %s to %s: nil message", ErrInvalidArgument, op, pidText(pid))
	}
	return nil
}

// send sends msg to pid with sender (nil for none), returning the problems
// known when the message is queued. A local PID gets msg directly.
func (s *System) send(pid *PID, msg any, sender *PID) error { return s.sendWith(pid, msg, sender, nil) }

// sendWith is send with message headers (nil for none).
func (s *System) sendWith(pid *PID, msg any, sender *PID, header map[string]string) error {
	if node, ok := s.nodeOf(pid.Address); ok && node != s.id {
		if len(header) > 0 {
			env := &proto.MessageEnvelope{Header: header}
			return s.remote(node).send(pid, msg, sender, env.Header)
		}
		return s.remote(node).send(pid, msg, sender)
	}
	if s.foreign(pid.Address) {
		return s.machine.send(pid, msg, sender, header)
	}
	if pid.Address == s.prefix+queueNode {
		if len(header) > 0 {
			return fmt.Errorf("%w: %s: headers on a work queue's messages", ErrInvalidArgument, pidText(pid))
		}
		return (&queueProcess{sys: s, name: pid.Id}).send(msg, sender, nil)
	}
	if pid.Address != s.addr && pid.Address != localAddress {
		if _, ok := s.ProcessRegistry.Get(pid); !ok {
			if _, _, err := splitHostPort(pid.Address); err == nil && s.machine == nil {
				// Not this namespace's, and no way to reach it.
				return &userError{msg: fmt.Sprintf("%v: %s is another machine's node, and this node has no WithRemote", ErrNoRemote, pidText(pid)), err: errors.Join(ErrNoRemote, ErrNotShmPID)}
			}
			return fmt.Errorf("%w: %s (namespace %q)", ErrNotShmPID, pidText(pid), s.ns)
		}
	}
	if len(header) > 0 {
		s.Root.Send(pid, &proto.MessageEnvelope{Message: msg, Sender: sender, Header: header})
		return nil
	}
	if sender != nil {
		s.Root.Send(pid, &proto.MessageEnvelope{Message: msg, Sender: sender})
		return nil
	}
	s.Root.Send(pid, msg)
	return nil
}

// pidText is a PID as users write it: address/id.
func pidText(pid *PID) string { return pid.Address + "/" + pid.Id }
