package stream

import (
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/testproc"
)

// pipe returns the two ends of a stream from dialer to a listener on
// server, and a function that closes both and the listener.
func pipe(server, dialer *actor.System, name string) (c1, c2 net.Conn, stop func(), err error) {
	ln, err := Listen(server, name)
	if err != nil {
		return nil, nil, nil, err
	}
	type result struct {
		c   net.Conn
		err error
	}
	acc := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		acc <- result{c, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c1, err = Dial(ctx, dialer, name)
	if err != nil {
		ln.Close()
		return nil, nil, nil, err
	}
	r := <-acc
	ln.Close()
	if r.err != nil {
		c1.Close()
		return nil, nil, nil, r.err
	}
	return c1, r.c, func() { c1.Close(); r.c.Close() }, nil
}

// nettest's conformance suite, both ends on one System.
func TestConnOneSystem(t *testing.T) {
	s := joinT(t, testproc.TempDir(t), "conf1")
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		return pipe(s, s, "conf")
	})
}

// nettest's conformance suite, the ends on two Systems of one process,
// so the bytes cross shared-memory rings.
func TestConnTwoSystems(t *testing.T) {
	root := testproc.TempDir(t)
	a := joinT(t, root, "conf2")
	b := joinT(t, root, "conf2")
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		return pipe(a, b, "conf")
	})
}
