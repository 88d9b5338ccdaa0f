package topic

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/actor"
)

// Msg is a publication with its headers and, for a request, where the
// reply goes: what PublishMsg sends and what a SubscribeMsgFunc handler
// gets, as a nats.Msg is in NATS.
type Msg struct {
	// Subject is the subject it is published on.
	Subject string
	// Header holds the publisher's headers: at most 63 entries, keys and
	// values of at most 4096 bytes; keys starting with "topic." or
	// "shmactor." are the library's own and refused. Nil for none.
	Header map[string]string
	// Data is the payload: a registered message type (actor.RegisterMessage),
	// []byte or string.
	Data any

	reply *actor.PID
	sys   *actor.System
}

// reserved reports whether a header key is one the library uses itself.
func reserved(key string) bool {
	return strings.HasPrefix(key, "topic.") || strings.HasPrefix(key, "shmactor.")
}

// DefaultRequestTimeout bounds a Request whose context has no deadline.
const DefaultRequestTimeout = 5 * time.Second

// Respond answers a request: v goes to the requester, as ctx.Respond
// would from an actor subscriber. For a publication that was not a
// request, it returns an error wrapping ErrNoReply; a nil v,
// ErrInvalidArgument; v the receiving process cannot decode, the
// error sending it gives (actor.ErrUnregistered, ...).
func (m *Msg) Respond(v any) error {
	op := fmt.Sprintf("respond on %q", m.Subject)
	switch {
	case m.reply == nil || m.sys == nil:
		return opErr(op, ErrNoReply)
	case v == nil:
		return opErr(op, fmt.Errorf("%w: nil message", ErrInvalidArgument))
	}
	if err := m.sys.Send(m.reply, v); err != nil {
		return opErr(op, err)
	}
	return nil
}

// PublishMsg publishes m.Data on m.Subject with m.Header, as Publish does.
// Header keys starting with "topic." or "shmactor." make an error wrapping
// ErrInvalidArgument; headers over the limits above, mailbox.ErrTooLarge
// (when another process subscribes); the other errors are Publish's.
func PublishMsg(sys *actor.System, m *Msg) error {
	if m == nil {
		return opErr("publish", fmt.Errorf("%w: nil Msg", ErrInvalidArgument))
	}
	return publish(sys, delivery{subject: m.Subject, msg: m.Data, header: m.Header})
}

// publish checks a publication and hands it to the System's engine.
func publish(sys *actor.System, d delivery) error {
	op := fmt.Sprintf("publish %q", d.subject)
	switch {
	case sys == nil:
		return opErr(op, fmt.Errorf("%w: nil System", ErrInvalidArgument))
	case d.msg == nil:
		return opErr(op, fmt.Errorf("%w: nil message", ErrInvalidArgument))
	}
	if err := ValidSubject(d.subject); err != nil {
		return opErr(op, err)
	}
	for k := range d.header {
		if reserved(k) {
			return opErr(op, fmt.Errorf("%w: header %q: keys starting with \"topic.\" or \"shmactor.\" are reserved", ErrInvalidArgument, k))
		}
	}
	e, err := engineOf(sys)
	if err != nil {
		return opErr(op, err)
	}
	if _, err := e.publish(d); err != nil {
		return opErr(op, err)
	}
	return nil
}

// SubscribeMsgFunc is SubscribeFunc with a function of a Msg: it sees the
// publisher's headers and can answer a request (Msg.Respond).
func SubscribeMsgFunc(sys *actor.System, pattern string, fn func(*Msg), opts ...Option) (*Subscription, error) {
	return subscribe(sys, pattern, "", false, handler{kind: toMsgFunc, msgFn: fn}, opts)
}

// QueueSubscribeMsgFunc is QueueSubscribeFunc with a function of a Msg.
func QueueSubscribeMsgFunc(sys *actor.System, pattern, group string, fn func(*Msg), opts ...Option) (*Subscription, error) {
	return subscribe(sys, pattern, group, true, handler{kind: toMsgFunc, msgFn: fn}, opts)
}

// Request publishes msg on subject as a request and returns the first
// reply: from a SubscribeMsgFunc handler's Msg.Respond or an actor
// subscriber's ctx.Respond, in any process. It waits until ctx is done
// (DefaultRequestTimeout when ctx has no deadline). When nothing in the
// namespace subscribes to subject it fails at once with an error
// wrapping ErrNoResponders; when ctx ends first, with ctx's error; when
// the reply cannot come (the responder's process died), with
// actor.ErrDeadLetter. The other errors are Publish's.
func Request(ctx context.Context, sys *actor.System, subject string, msg any) (any, error) {
	op := fmt.Sprintf("request %q", subject)
	if ctx == nil {
		return nil, opErr(op, fmt.Errorf("%w: nil Context", ErrInvalidArgument))
	}
	if sys == nil {
		return nil, opErr(op, fmt.Errorf("%w: nil System", ErrInvalidArgument))
	}
	if err := ctx.Err(); err != nil {
		return nil, opErr(op, err)
	}
	timeout := DefaultRequestTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		return nil, opErr(op, context.DeadlineExceeded)
	}
	f := proto.NewFuture(sys.ActorSystem, timeout)
	e, err := engineOf(sys)
	if err != nil {
		return nil, opErr(op, err)
	}
	d := delivery{subject: subject, msg: msg, reply: f.PID()}
	if err := publishChecked(e, d); err != nil {
		sys.Root.Stop(f.PID())
		return nil, opErr(op, err)
	}
	done := make(chan struct{})
	var res any
	go func() {
		res, err = f.Result()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		sys.Root.Stop(f.PID())
		return nil, opErr(op, ctx.Err())
	}
	switch r := res.(type) {
	case *proto.DeadLetterResponse:
		return nil, opErr(op, actor.ErrDeadLetter)
	case nil:
		if errors.Is(err, proto.ErrTimeout) {
			return nil, opErr(op, context.DeadlineExceeded)
		}
		return nil, opErr(op, err)
	default:
		return r, nil
	}
}

// publishChecked is publish for Request, whose checks differ: it needs a
// responder.
func publishChecked(e *engine, d delivery) error {
	if d.msg == nil {
		return fmt.Errorf("%w: nil message", ErrInvalidArgument)
	}
	if err := ValidSubject(d.subject); err != nil {
		return err
	}
	n, err := e.publish(d)
	if err == nil && n == 0 {
		return ErrNoResponders
	}
	return err
}

// userHeader is what a subscriber sees of a publication's headers: the
// publisher's, without the package's own.
func userHeader(h map[string]string) map[string]string {
	var out map[string]string
	for k, v := range h {
		if reserved(k) {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(h))
		}
		out[k] = v
	}
	return out
}
