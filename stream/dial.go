package stream

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/seal"
	"github.com/shmactor/shmactor/registry"
	"github.com/shmactor/shmactor/shm"
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
		if st.closing() && !errors.Is(err, actor.ErrClosed) {
			// What failed failed because the System is closing.
			err = fmt.Errorf("%w: %w", actor.ErrClosed, err)
		}
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
	c.listener, c.raddr, c.dialer = lpid, raddr, true
	open, err := c.makePipe()
	if err == nil {
		err = c.spawn()
	}
	if err == nil {
		c.laddr = &Addr{Namespace: sys.Namespace(), Node: sys.NodeID(), Name: c.self.Id}
		open.Addr, open.ID = c.self.Address, c.self.Id
		// Only now may the System's Close close c: it finds c whole.
		err = st.add(c, nil)
	}
	if err != nil {
		c.Close()
		return fail(err)
	}
	if err := sys.Send(lpid, open); err != nil {
		c.Close()
		return fail(err)
	}
	select {
	case err = <-c.accepted:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil && c.closed.Load() {
		err = fmt.Errorf("stream: %w", actor.ErrClosed) // the System closed it
	}
	if err != nil {
		c.Close()
		return fail(err)
	}
	return c, nil
}

// makePipe makes the dialing end's pipe, and its key when the System
// seals, and returns the opOpen that offers them to the listener.
func (c *conn) makePipe() (*ctrl, error) {
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s%x-%016x", pipePrefix, id, c.sys.NodeID())
	p, err := shm.CreatePipe(c.sys.Registry().Dir(), name, window)
	if err != nil {
		return nil, err
	}
	open := &ctrl{Op: opOpen, Pipe: name}
	if c.sys.Sealed() {
		open.Key = make([]byte, seal.KeySize)
		if _, err := rand.Read(open.Key); err != nil {
			p.Unlink()
			p.Close()
			return nil, err
		}
		open.Suite = uint8(seal.LocalSuite())
	}
	if err := c.attach(p, 0, open.Key, seal.Suite(open.Suite)); err != nil {
		p.Unlink()
		p.Close()
		return nil, err
	}
	return open, nil
}

// Interface checks.
var (
	_ net.Conn     = (*conn)(nil)
	_ net.Listener = (*listener)(nil)
)
