package stream

import (
	"fmt"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/actor"
)

// receive is c's actor: it takes the peer's data and control messages
// and watches the peer.
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
	case []byte:
		c.onData(m)
	case *ctrl:
		c.onCtrl(ctx, m)
	case *proto.Terminated:
		// Data the peer sent before it stopped may still wait in the
		// mailbox behind this system message: go through it first.
		gone := m.Why != proto.TerminatedReason_Stopped
		c.mu.Lock()
		peer, l := c.peer, c.listener
		c.mu.Unlock()
		switch {
		case peer != nil && m.Who.Equal(peer):
			ctx.Send(ctx.Self(), peerDown{gone: gone})
		case peer == nil && l != nil && m.Who.Equal(l):
			// Its accept may be in the mailbox too.
			ctx.Send(ctx.Self(), listenerDown{})
		}
	case listenerDown:
		c.mu.Lock()
		accepted := c.peer != nil
		c.mu.Unlock()
		if !accepted {
			c.answer(fmt.Errorf("%w: the listener is gone", ErrRefused))
		}
	case peerDown:
		c.mu.Lock()
		if !c.peerClosed && c.peerErr == nil {
			if m.gone {
				c.peerErr = ErrPeerGone
			} else {
				// The peer's actor stopped, which it does on Close.
				c.eof, c.peerClosed = true, true
			}
			c.changed()
		}
		c.mu.Unlock()
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

func (c *conn) onData(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || len(b) == 0 {
		return
	}
	if c.buffered+c.unacked+len(b) > window {
		c.peerErr = ErrProtocol
		c.changed()
		return
	}
	c.buf = append(c.buf, b)
	c.buffered += len(b)
	c.changed()
}

func (c *conn) onCtrl(ctx actor.Context, m *ctrl) {
	switch m.Op {
	case opAccept:
		peer := proto.NewPID(m.Addr, m.ID)
		c.mu.Lock()
		l := c.listener
		c.peer, c.credit = peer, int(m.N)
		c.raddr.Node = nodeOfAddress(m.Addr)
		c.mu.Unlock()
		if l != nil {
			ctx.Unwatch(l)
		}
		ctx.Watch(peer)
		c.answer(nil)
	case opRefuse:
		c.answer(fmt.Errorf("%w: the listener's accept queue is full or it is closing", ErrRefused))
	case opCredit:
		c.mu.Lock()
		c.credit += int(m.N)
		c.changed()
		c.mu.Unlock()
	case opFin:
		c.mu.Lock()
		c.eof = true
		c.changed()
		c.mu.Unlock()
	case opClose:
		c.mu.Lock()
		c.eof, c.peerClosed = true, true
		c.changed()
		c.mu.Unlock()
	}
}

// answer hands Dial the listener's answer, once.
func (c *conn) answer(err error) {
	select {
	case c.accepted <- err:
	default:
	}
}
