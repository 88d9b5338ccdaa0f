package topic

import (
	"context"
	"fmt"
	"time"
)

// Policy says what happens to a publication for a subscription whose
// pending messages are at their limit (a slow consumer).
type Policy int

const (
	// Block makes the publication wait for room up to the
	// subscription's deadline, then drops it: a slow consumer slows its
	// publishers down. A publisher in the subscriber's process waits in
	// Publish. Publications from other processes are never waited for
	// by the subscriber's process (its other actors and subscriptions go
	// on): the subscription pauses the publishing nodes instead, and
	// their Publish calls for subjects it matches wait until it has
	// caught up. What those nodes had already sent is kept, past the
	// pending limit. The default.
	Block Policy = iota
	// DropNewest drops the publication at once.
	DropNewest
)

// String returns a readable name.
func (p Policy) String() string {
	switch p {
	case Block:
		return "block"
	case DropNewest:
		return "drop-newest"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// Defaults of the subscription options.
const (
	DefaultPending        = 65536           // messages waiting for a subscriber
	DefaultBlockTimeout   = 5 * time.Second // how long Block waits for room
	DefaultConfirmTimeout = 5 * time.Second // how long Subscribe waits for every node
)

// Option configures a subscription.
type Option func(*settings) error

type settings struct {
	pending int
	policy  Policy
	timeout time.Duration
	confirm time.Duration
}

func defaults() settings {
	return settings{pending: DefaultPending, policy: Block, timeout: DefaultBlockTimeout, confirm: DefaultConfirmTimeout}
}

// WithPending sets how many messages may wait for the subscriber (its
// pending limit) before the slow-consumer policy applies.
func WithPending(n int) Option {
	return func(s *settings) error {
		if n < 1 {
			return fmt.Errorf("%w: pending limit %d, want at least 1", ErrInvalidOption, n)
		}
		s.pending = n
		return nil
	}
}

// WithSlowConsumer sets the subscription's slow-consumer policy; timeout
// is how long Block waits for room (0: DefaultBlockTimeout) and must be 0
// for DropNewest. Every drop is counted (Subscription.Stats) and reported
// as a SlowConsumer event on the System's EventStream.
func WithSlowConsumer(p Policy, timeout time.Duration) Option {
	return func(s *settings) error {
		switch {
		case p != Block && p != DropNewest:
			return fmt.Errorf("%w: slow-consumer policy %v", ErrInvalidOption, p)
		case timeout < 0:
			return fmt.Errorf("%w: slow-consumer timeout %v is negative", ErrInvalidOption, timeout)
		case p == DropNewest && timeout != 0:
			return fmt.Errorf("%w: slow-consumer timeout %v given with drop-newest, which never waits", ErrInvalidOption, timeout)
		}
		s.policy = p
		if timeout > 0 {
			s.timeout = timeout
		}
		return nil
	}
}

// WithConfirmTimeout sets how long Subscribe waits for every node of the
// namespace to confirm that it routes to the new subscription.
func WithConfirmTimeout(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return fmt.Errorf("%w: confirm timeout %v, want more than 0", ErrInvalidOption, d)
		}
		s.confirm = d
		return nil
	}
}

// WithContext bounds Subscribe's wait for every node's confirmation by
// ctx's deadline as well as by the confirm timeout; a ctx already done
// makes Subscribe fail with its error.
func WithContext(ctx context.Context) Option {
	return func(s *settings) error {
		if ctx == nil {
			return fmt.Errorf("%w: nil Context", ErrInvalidOption)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if dl, ok := ctx.Deadline(); ok {
			s.confirm = max(min(s.confirm, time.Until(dl)), time.Millisecond)
		}
		return nil
	}
}
