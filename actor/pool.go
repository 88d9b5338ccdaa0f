package actor

import (
	"context"
	"fmt"
	"time"

	proto "github.com/asynkron/protoactor-go/actor"
)

// Supervised pools: n actors of a kind, kept alive across the processes
// of a namespace. The pool is an actor of this process that watches its
// members; a member that terminates (its process killed, say) is
// replaced by a new one of the kind, on whichever node offers it and is
// least busy, and messages to the pool go round robin to the members
// alive.

// poolMembers asks a pool for its members (local only).
type poolMembers struct{}

// poolAdd tells a pool a new member exists.
type poolAdd struct{ pid *PID }

type pool struct {
	sys     *System
	kind    string
	n       int
	members []*PID
	next    int
	pending int           // replacements under way
	held    []heldMsg     // messages that arrived while no member was alive
	backoff time.Duration // wait before retrying a failed replacement
}

type heldMsg struct {
	msg    any
	sender *PID
}

// SpawnPool starts n actors of kind (RegisterKind) on the nodes that
// offer it, as SpawnKind places them, and returns the pool's PID: a
// message sent to it goes to one member, round robin, with its sender,
// so a Request through the pool is answered by the member. When a
// member terminates — its process killed with kill -9 included, as soon
// as its node is reaped — the pool stops sending to it and spawns a
// replacement on a node that offers the kind; messages that arrive
// while no member is alive wait for one. It fails as SpawnKind does
// while it spawns the first n (stopping those it made), and with
// ErrInvalidArgument for n < 1.
// The pool lives in this process: stopping it (or this process ending)
// leaves its members running.
func (s *System) SpawnPool(ctx context.Context, kind string, n int) (*PID, error) {
	if n < 1 {
		return nil, fmt.Errorf("%w: spawn pool of %q: %d members, want at least 1", ErrInvalidArgument, kind, n)
	}
	members := make([]*PID, 0, n)
	for range n {
		pid, err := s.SpawnKind(ctx, kind)
		if err != nil {
			for _, m := range members {
				s.Root.Stop(m)
			}
			return nil, fmt.Errorf("shmactor: spawn pool of %q: %w", kind, err)
		}
		members = append(members, pid)
	}
	p := &pool{sys: s, kind: kind, n: n, members: members}
	pid := s.Root.Spawn(proto.PropsFromFunc(p.receive))
	if pid == nil || s.closed.Load() {
		for _, m := range members {
			s.Root.Stop(m)
		}
		return nil, fmt.Errorf("%w: spawn pool of %q", ErrClosed, kind)
	}
	return pid, nil
}

// PoolMembers returns the members a pool (SpawnPool's PID) has now.
func (s *System) PoolMembers(pool *PID, timeout time.Duration) ([]*PID, error) {
	if err := s.checkSend("pool members", pool, poolMembers{}); err != nil {
		return nil, err
	}
	v, err := s.Root.RequestFuture(pool, poolMembers{}, timeout).Result()
	if err != nil {
		return nil, err
	}
	members, ok := v.([]*PID)
	if !ok {
		return nil, fmt.Errorf("%w: pool members of %s: answered %T, not a pool", ErrInvalidArgument, pidText(pool), v)
	}
	return members, nil
}

func (p *pool) receive(ctx proto.Context) {
	switch m := ctx.Message().(type) {
	case *proto.Started:
		for _, pid := range p.members {
			ctx.Watch(pid)
		}
	case *proto.Terminated:
		for i, pid := range p.members {
			if pid.Equal(m.Who) {
				p.members = append(p.members[:i], p.members[i+1:]...)
				p.respawn(ctx)
				break
			}
		}
	case poolRespawnRetry:
		p.pending--
		p.respawn(ctx)
	case *poolAdd:
		p.pending--
		p.backoff = 0
		p.members = append(p.members, m.pid)
		ctx.Watch(m.pid)
		held := p.held
		p.held = nil
		for _, h := range held {
			p.forward(ctx, h.msg, h.sender)
		}
	case poolMembers:
		ctx.Respond(append([]*PID(nil), p.members...))
	case *proto.Stopping, *proto.Stopped, *proto.Restarting:
	default:
		p.forward(ctx, m, ctx.Sender())
	}
}

// forward sends msg to the next member, keeping its sender; a member a
// send fails for (its node gone) is skipped.
func (p *pool) forward(ctx proto.Context, msg any, sender *PID) {
	for range len(p.members) {
		pid := p.members[p.next%len(p.members)]
		p.next++
		if err := p.sys.sendWith(pid, msg, sender, nil); err == nil {
			return
		}
	}
	p.held = append(p.held, heldMsg{msg, sender})
}

// respawn spawns a member to make up for one that went, off the
// actor's goroutine, and tries again later when no node offers the kind.
func (p *pool) respawn(ctx proto.Context) {
	if len(p.members)+p.pending >= p.n {
		return
	}
	p.pending++
	self, sys, kind := ctx.Self(), p.sys, p.kind
	// Retries wait longer each time, up to poolMaxBackoff, while no
	// replacement can be made (no node offers the kind, say), and only
	// the first failure of a run is logged.
	wait, first := p.backoff, p.backoff == 0
	p.backoff = min(max(2*p.backoff, poolMinBackoff), poolMaxBackoff)
	if wait == 0 {
		wait = poolMinBackoff
	}
	go func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		pid, err := sys.SpawnKind(c, kind)
		if err != nil {
			if sys.closed.Load() {
				return
			}
			if first {
				sys.warn("shmactor: pool: spawning a replacement failed; trying again", "kind", kind, "err", err)
			}
			time.Sleep(wait)
			sys.Root.Send(self, poolRespawnRetry{})
			return
		}
		sys.Root.Send(self, &poolAdd{pid: pid})
	}()
}

const poolMinBackoff, poolMaxBackoff = 100 * time.Millisecond, 2 * time.Second

// poolRespawnRetry retries a replacement that failed.
type poolRespawnRetry struct{}
