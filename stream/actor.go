package stream

import (
	"fmt"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/actor"
)

// receive is c's actor: it takes the listener's answer and watches the
// peer, so that a peer that dies ends the stream.
func (c *conn) receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *proto.Started:
		c.mu.Lock()
		peer, l := c.peer, c.listener
		c.mu.Unlock()
		if peer != nil {
			ctx.Watch(peer)
		} else if l != nil {
			ctx.Watch(l)
		}
	case *ctrl:
		c.onCtrl(ctx, m)
	case *proto.Terminated:
		c.mu.Lock()
		peer, l := c.peer, c.listener
		c.mu.Unlock()
		switch {
		case peer != nil && m.Who.Equal(peer):
			down := int32(peerDied)
			if m.Why == proto.TerminatedReason_Stopped {
				down = peerStopped // its actor stopped, which it does on Close
			}
			c.peerDown.CompareAndSwap(0, down)
			c.kick()
		case peer == nil && l != nil && m.Who.Equal(l):
			// Its accept may be in the mailbox still.
			ctx.Send(ctx.Self(), listenerDown{})
		}
	case listenerDown:
		c.mu.Lock()
		accepted := c.peer != nil
		c.mu.Unlock()
		if !accepted {
			c.answer(fmt.Errorf("%w: the listener is gone", ErrRefused))
		}
	case stopConn:
		c.mu.Lock()
		peer, l := c.peer, c.listener
		c.mu.Unlock()
		if peer != nil {
			ctx.Unwatch(peer)
		} else if l != nil {
			ctx.Unwatch(l)
		}
		ctx.Stop(ctx.Self())
	case *proto.Stopped:
		close(c.stopped)
	}
}

func (c *conn) onCtrl(ctx actor.Context, m *ctrl) {
	switch m.Op {
	case opAccept:
		peer := proto.NewPID(m.Addr, m.ID)
		c.mu.Lock()
		l := c.listener
		c.peer = peer
		c.raddr.Node = nodeOfAddress(m.Addr)
		c.mu.Unlock()
		if l != nil {
			ctx.Unwatch(l)
		}
		ctx.Watch(peer)
		// Both ends have the pipe mapped: its name is no longer needed,
		// and once it is gone nothing of the stream is left on disk,
		// whichever process dies.
		c.pipe.Unlink()
		c.answer(nil)
	case opRefuse:
		c.answer(fmt.Errorf("%w: the listener's accept queue is full or it is closing", ErrRefused))
	}
}

// answer hands Dial the listener's answer, once.
func (c *conn) answer(err error) {
	select {
	case c.accepted <- err:
	default:
	}
}
