package stream

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/registry"
)

// Dial opens a stream to the listener on name, in whichever process of
// sys's namespace it runs, and waits until it accepts or ctx ends. The
// stream is a net.Conn with a CloseWrite method, as a *net.TCPConn has.
// A nil System or Context makes an error wrapping ErrInvalidArgument; a
// bad name, ErrInvalidName; no listener on name (or one that closes or
// is full), ErrRefused; a closed System, actor.ErrClosed; ctx's end,
// ctx's error.
func Dial(ctx context.Context, sys *actor.System, name string) (net.Conn, error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: nil Context", ErrInvalidArgument)
	}
	if err := checkName("dial", name); err != nil {
		return nil, err
	}
	st, err := stateOf(sys)
	if err != nil {
		return nil, err
	}
	raddr := &Addr{Namespace: sys.Namespace(), Name: name}
	fail := func(err error) (net.Conn, error) {
		return nil, opErr("dial", nil, raddr, err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	lpid, err := sys.Lookup(prefix + name)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return fail(fmt.Errorf("%w: nothing listens on %q", ErrRefused, name))
	case err != nil:
		return fail(err)
	}
	raddr.Node = nodeOfAddress(lpid.Address)
	c := newConn(sys, st)
	c.listener, c.raddr = lpid, raddr
	if err := st.add(c, nil); err != nil {
		return fail(err)
	}
	if err := c.spawn(); err != nil {
		st.forget(c, nil)
		return fail(err)
	}
	c.laddr = &Addr{Namespace: sys.Namespace(), Node: sys.NodeID(), Name: c.self.Id}
	if err := sys.Send(lpid, &ctrl{Op: opOpen, Addr: c.self.Address, ID: c.self.Id, N: window}); err != nil {
		c.Close()
		return fail(err)
	}
	select {
	case err = <-c.accepted:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		c.Close()
		return fail(err)
	}
	return c, nil
}

// Interface checks.
var (
	_ net.Conn     = (*conn)(nil)
	_ net.Listener = (*listener)(nil)
)
