package topic

import (
	"context"
	"fmt"
	"time"

	"github.com/shmactor/shmactor/actor"
)

// Drain ends the subscription without losing what is on its way to it,
// as NATS's Drain does: this node stops being routed new publications for
// it (every other node confirms, as for Subscribe), publications already
// sent or queued are handled, and then it ends as Unsubscribe does. A
// queue group member stops taking publications after the one it is
// handling; the others stay in the group's queue for the other members.
// Drain returns when the last has been handled, or with ctx's error when
// ctx ends first (what is left is then discarded and counted, as by
// Unsubscribe). A nil ctx makes an error wrapping ErrInvalidArgument;
// draining a subscription already ended or draining, ErrUnsubscribed.
func (s *Subscription) Drain(ctx context.Context) error {
	op := fmt.Sprintf("drain %q", s.pattern)
	if ctx == nil {
		return opErr(op, fmt.Errorf("%w: nil Context", ErrInvalidArgument))
	}
	if s.done.Load() || !s.draining.CompareAndSwap(false, true) {
		if s.e.closed.Load() {
			return &opError{op: op, err: closedError{also: ErrUnsubscribed}}
		}
		return opErr(op, ErrUnsubscribed)
	}
	// No new publications from other nodes: once every node has applied
	// the release, what they sent before is in this node's inbox, ahead
	// of their answers to the barrier, and so already queued here.
	s.release()
	timeout := s.set.confirm
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(dl)), time.Millisecond)
	}
	s.e.host.Barrier(timeout)
	s.e.removeLocal(s) // and none from this node
	if s.consumer != nil {
		s.e.host.StopConsumer(s.consumer) // after the one it handles
	}
	for s.q != nil && s.q.len() > 0 && ctx.Err() == nil && !s.done.Load() {
		select {
		case <-time.After(time.Millisecond):
		case <-ctx.Done():
		case <-s.quit:
		}
	}
	if s.done.CompareAndSwap(false, true) {
		s.end()
	}
	if err := ctx.Err(); err != nil {
		return opErr(op, err)
	}
	return nil
}

// ChanSubscribe sends every publication on a subject matching pattern to
// ch, as a Msg, in publication order for each publisher. A send waits
// while ch is full: publications then wait in the subscription's pending
// queue, where its limit and slow-consumer policy apply. A nil ch makes
// an error wrapping ErrInvalidArgument.
func ChanSubscribe(sys *actor.System, pattern string, ch chan *Msg, opts ...Option) (*Subscription, error) {
	return subscribe(sys, pattern, "", false, handler{kind: toChan, out: ch}, opts)
}

// SubscribeSync subscribes for NextMsg: publications on a subject
// matching pattern wait in the subscription's pending queue (its limit
// and policy apply) until NextMsg takes them, one at a time, in order.
func SubscribeSync(sys *actor.System, pattern string, opts ...Option) (*Subscription, error) {
	return subscribe(sys, pattern, "", false, handler{kind: toSync, out: make(chan *Msg)}, opts)
}

// NextMsg returns the next publication of a SubscribeSync subscription,
// waiting for one until ctx ends (ctx's error). On a subscription made
// otherwise it returns an error wrapping ErrInvalidArgument; on one that
// has ended, ErrUnsubscribed.
func (s *Subscription) NextMsg(ctx context.Context) (*Msg, error) {
	op := fmt.Sprintf("next message on %q", s.pattern)
	switch {
	case ctx == nil:
		return nil, opErr(op, fmt.Errorf("%w: nil Context", ErrInvalidArgument))
	case !s.isSync:
		return nil, opErr(op, fmt.Errorf("%w: not a SubscribeSync subscription", ErrInvalidArgument))
	}
	select {
	case m := <-s.out:
		return m, nil
	case <-ctx.Done():
		return nil, opErr(op, ctx.Err())
	case <-s.quit:
		return nil, opErr(op, ErrUnsubscribed)
	}
}
