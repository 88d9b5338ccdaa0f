package topic

import (
	"errors"
	"strings"

	"github.com/shmactor/shmactor/actor"
)

// Sentinel errors of the topic layer. Errors of the layers below
// (actor.ErrUnregistered, mailbox.ErrTooLarge, ...) come wrapped, so
// errors.Is works on them too.
var (
	// ErrInvalidSubject is returned for a subject or pattern that breaks
	// the subject rules (see ValidSubject and ValidPattern).
	ErrInvalidSubject = errors.New("topic: invalid subject")
	// ErrInvalidGroup is returned for a bad queue group name.
	ErrInvalidGroup = errors.New("topic: invalid queue group")
	// ErrInvalidOption is returned for an option with a bad value, or a
	// nil Option.
	ErrInvalidOption = errors.New("topic: invalid option")
	// ErrInvalidArgument is returned for an argument no call accepts: a
	// nil System, PID, function or message.
	ErrInvalidArgument = errors.New("topic: invalid argument")
	// ErrUnconfirmed is returned by Subscribe when some nodes did not
	// confirm in time that they route to the new subscription (see
	// UnconfirmedError); the subscription is withdrawn.
	ErrUnconfirmed = errors.New("topic: subscription not confirmed by every node")
	// ErrUnsubscribed is returned by Unsubscribe for a subscription
	// already ended.
	ErrUnsubscribed = errors.New("topic: already unsubscribed")
	// ErrNoResponders is returned by Request, at once, when no
	// subscription anywhere in the namespace matches the subject.
	ErrNoResponders = errors.New("topic: no responders")
	// ErrNoReply is returned by Msg.Respond for a publication that was
	// not a request.
	ErrNoReply = errors.New("topic: publication has no reply address")
	// ErrClosed is returned by every call once the System is closed. Such
	// an error is actor.ErrClosed too.
	ErrClosed = errors.New("topic: system closed")
)

// closedError is ErrClosed as the calls return it: actor.ErrClosed too,
// and also, when not nil, the reason the call would have failed anyway
// (ErrUnsubscribed for a subscription that Close ended).
type closedError struct{ also error }

func (e closedError) Error() string { return ErrClosed.Error() }

func (e closedError) Unwrap() []error {
	if e.also != nil {
		return []error{ErrClosed, actor.ErrClosed, e.also}
	}
	return []error{ErrClosed, actor.ErrClosed}
}

// opError is the failure of a call ("publish \"orders.eu\"") for reason
// err. Its message names the package once: "topic: publish "orders.eu":
// invalid subject: ...", not "topic: publish ...: topic: invalid
// subject: ...".
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string {
	return "topic: " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "topic: ")
}

func (e *opError) Unwrap() error { return e.err }

// opErr returns err as the failure of op; a System closed under the call
// (actor.ErrClosed from the layer below) is this package's ErrClosed.
func opErr(op string, err error) error {
	if errors.Is(err, ErrClosed) || errors.Is(err, actor.ErrClosed) {
		err = closedError{}
	}
	return &opError{op: op, err: err}
}
