package actor

import (
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/shmactor/shmactor/mailbox"
	"github.com/shmactor/shmactor/shm"
)

// Option configures Join.
type Option func(*options) error

type options struct {
	root, group string
	plaintext   bool
	identity    string
	trust       string
	logger      *slog.Logger
	inbox       shm.RingConfig
	policy      mailbox.Policy
	timeout     time.Duration
	spin        time.Duration
	localRoot   bool
	oolQuota    int64
	meter       metric.MeterProvider
	remote      *remoteConfig
}

// WithRoot sets the directory namespaces live in (default: /dev/shm/
// shmactor-<uid> on Linux, a private directory under the temporary or
// runtime directory elsewhere).
func WithRoot(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return fmt.Errorf("%w: WithRoot: empty directory", ErrInvalidOption)
		}
		o.root = dir
		return nil
	}
}

// WithGroup joins a group namespace shared by the members of group (a
// name or numeric id): directories 0770, files 0660.
func WithGroup(group string) Option {
	return func(o *options) error {
		if group == "" {
			return fmt.Errorf("%w: WithGroup: empty group", ErrInvalidOption)
		}
		o.group = group
		return nil
	}
}

// WithPlaintext turns sealing off, for trusted, maximum-speed setups:
// messages cross shared memory unencrypted and unauthenticated. Every node
// of a namespace must agree; Join refuses to mix.
func WithPlaintext() Option {
	return func(o *options) error { o.plaintext = true; return nil }
}

// WithIdentity certifies this node's key with the ed25519 identity in the
// key file at path (see docs/security.md).
func WithIdentity(path string) Option {
	return func(o *options) error {
		if path == "" {
			return fmt.Errorf("%w: WithIdentity: empty path", ErrInvalidOption)
		}
		o.identity = path
		return nil
	}
}

// WithTrustStore admits as peers only nodes whose keys are certified by an
// identity listed in the trust store file at path.
func WithTrustStore(path string) Option {
	return func(o *options) error {
		if path == "" {
			return fmt.Errorf("%w: WithTrustStore: empty path", ErrInvalidOption)
		}
		o.trust = path
		return nil
	}
}

// WithLogger sends shmactor's and protoactor-go's log lines to l. Without
// it both are silent.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: WithLogger: nil logger", ErrInvalidOption)
		}
		o.logger = l
		return nil
	}
}

// WithInbox sets the geometry of this node's inbox ring, and of the work
// queue rings this node creates (shm defaults: 8192 cells of 256 bytes,
// records up to 64 KiB, the envelope included). A message larger than
// the receiver's records travels out of line (WithOutOfLineQuota); a
// message through a work queue must fit the queue's records: give every
// node that may create a queue large messages go through a larger
// MaxRecord.
func WithInbox(cfg shm.RingConfig) Option {
	return func(o *options) error {
		if _, err := shm.ValidRingConfig(cfg); err != nil {
			return fmt.Errorf("%w: WithInbox: %v", ErrInvalidOption, err)
		}
		o.inbox = cfg
		return nil
	}
}

// WithOutOfLineQuota bounds, in bytes, the out-of-line segments this
// node has made that their receivers have not taken yet (default
// mailbox.DefaultOutOfLineQuota, 4 GiB). A message too large for the
// receiver's inbox goes into a segment of its own in the namespace
// directory, sealed like any message, and the inbox carries a reference
// to it; the receiver removes the segment once it has read it, and a
// receiver that dies has its segments reaped with its node. A send that
// would pass the quota waits for receivers as a send waits for room
// (WithBackPressure), then fails with mailbox.ErrQuota. A negative quota
// turns out-of-line messages off: sends too large for the receiver's
// inbox fail with mailbox.ErrTooLarge.
func WithOutOfLineQuota(bytes int64) Option {
	return func(o *options) error {
		if bytes == 0 {
			return fmt.Errorf("%w: WithOutOfLineQuota: zero bytes (negative turns out-of-line messages off)", ErrInvalidOption)
		}
		o.oolQuota = bytes
		return nil
	}
}

// WithBackPressure sets what a send does when the receiver's inbox is
// full: mailbox.Block waits up to timeout (the default: 5s),
// mailbox.DropNewest drops the message, mailbox.FailFast fails at once.
// Undelivered messages become dead letters and count in Stats.
func WithBackPressure(p mailbox.Policy, timeout time.Duration) Option {
	return func(o *options) error {
		if p < mailbox.Block || p > mailbox.FailFast {
			return fmt.Errorf("%w: WithBackPressure: unknown policy %d", ErrInvalidOption, p)
		}
		if timeout < 0 {
			return fmt.Errorf("%w: WithBackPressure: negative timeout %v", ErrInvalidOption, timeout)
		}
		o.policy, o.timeout = p, timeout
		return nil
	}
}

// WithSpin sets how long the inbox pump spins for more messages before it
// parks (default 50µs): longer lowers latency, at the cost of CPU.
func WithSpin(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("%w: WithSpin: negative duration %v", ErrInvalidOption, d)
		}
		o.spin = d
		return nil
	}
}

// WithLocalRootNames leaves Root.SpawnNamed as protoactor-go has it: the
// name is this process's only, and other processes cannot Lookup it. By
// default Root.SpawnNamed is SpawnNamed (see System). Use it for a library
// that spawns fixed names from Root in every process, such as
// protoactor-go's remote and cluster packages, whose names would otherwise
// be taken by the first process.
func WithLocalRootNames() Option {
	return func(o *options) error { o.localRoot = true; return nil }
}
