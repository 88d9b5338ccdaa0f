package topic

import "errors"

// Sentinel errors of the topic layer. Errors of the layers below
// (actor.ErrUnregistered, actor.ErrClosed, ...) come wrapped, so errors.Is
// works on them too.
var (
	// ErrInvalidSubject is returned for a subject or pattern that breaks
	// the subject rules (see ValidSubject and ValidPattern).
	ErrInvalidSubject = errors.New("topic: invalid subject")
	// ErrInvalidGroup is returned for a bad queue group name.
	ErrInvalidGroup = errors.New("topic: invalid queue group")
	// ErrInvalidOption is returned for an option with a bad value.
	ErrInvalidOption = errors.New("topic: invalid option")
	// ErrUnconfirmed is returned by Subscribe when some nodes did not
	// confirm in time that they route to the new subscription (see
	// UnconfirmedError); the subscription is withdrawn.
	ErrUnconfirmed = errors.New("topic: subscription not confirmed by every node")
	// ErrUnsubscribed is returned by Unsubscribe for a subscription
	// already ended.
	ErrUnsubscribed = errors.New("topic: already unsubscribed")
	// ErrClosed is returned once the System is closed.
	ErrClosed = errors.New("topic: system closed")
)
