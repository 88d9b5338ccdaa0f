package stream

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/seal"
	"github.com/shmactor/shmactor/registry"
	"github.com/shmactor/shmactor/shm"
)

// listener is a Listen's net.Listener: a named actor that answers
// dialers.
type listener struct {
	sys    *actor.System
	st     *state
	pid    *actor.PID
	addr   *Addr
	accept chan *conn
	done   chan struct{}

	mu     sync.Mutex
	closed bool
}

// Listen listens for streams on name, which every process of sys's
// namespace can Dial. The name lives in the namespace's one name scheme
// apart from actors' names: a listener "echo" and an actor "echo" can
// both exist. A nil System makes an error wrapping ErrInvalidArgument; a
// name with a '/' or one the registry refuses, ErrInvalidName; a name
// another listener holds, registry.ErrNameTaken; a closed System,
// actor.ErrClosed.
func Listen(sys *actor.System, name string) (net.Listener, error) {
	if err := checkName("listen", name); err != nil {
		return nil, err
	}
	st, err := stateOf(sys)
	if err != nil {
		return nil, err
	}
	l := &listener{
		sys: sys, st: st,
		addr:   &Addr{Namespace: sys.Namespace(), Node: sys.NodeID(), Name: name},
		accept: make(chan *conn, backlog),
		done:   make(chan struct{}),
	}
	if err := st.add(nil, l); err != nil {
		return nil, err
	}
	pid, err := sys.SpawnNamed(actor.PropsFromFunc(l.receive), prefix+name)
	if errors.Is(err, proto.ErrNameExists) {
		// Taken by a listener of this process: say so as for one of
		// another process.
		err = fmt.Errorf("%w: %w", registry.ErrNameTaken, err)
	}
	if err != nil {
		st.forget(nil, l)
		return nil, fmt.Errorf("stream: listen %q: %w", name, err)
	}
	l.pid = pid
	return l, nil
}

// checkName checks a listener's name as the user gave it.
func checkName(op, name string) error {
	if name == "" {
		return fmt.Errorf("%w: %s: empty name", ErrInvalidName, op)
	}
	if strings.Contains(name, "/") {
		return fmt.Errorf("%w: %s %q: it contains '/'", ErrInvalidName, op, name)
	}
	if err := registry.ValidName(prefix + name); err != nil {
		return fmt.Errorf("%w: %s %q: %w", ErrInvalidName, op, name, err)
	}
	return nil
}

// receive is the listener's actor: each opOpen gets a stream of its own,
// with an actor that is no child of the listener's (closing the listener
// leaves accepted streams open).
func (l *listener) receive(ctx actor.Context) {
	m, ok := ctx.Message().(*ctrl)
	if !ok || m.Op != opOpen {
		return
	}
	dialer := proto.NewPID(m.Addr, m.ID)
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed || len(l.accept) == cap(l.accept) {
		_ = l.sys.Send(dialer, &ctrl{Op: opRefuse})
		return
	}
	c := newConn(l.sys, l.st)
	c.peer = dialer
	c.laddr = l.addr
	c.raddr = &Addr{Namespace: l.addr.Namespace, Node: nodeOfAddress(m.Addr), Name: m.ID}
	if err := l.openPipe(c, m); err != nil {
		l.sys.Logger().Warn("stream: refusing a dialer", "listener", l.addr.Name, "dialer", m.Addr, "err", err)
		_ = l.sys.Send(dialer, &ctrl{Op: opRefuse})
		return
	}
	// The System's Close may close c once it is added: add it whole.
	err := c.spawn()
	if err == nil {
		err = l.st.add(c, nil)
	}
	if err != nil {
		c.Close()
		_ = l.sys.Send(dialer, &ctrl{Op: opRefuse})
		return
	}
	if err := l.sys.Send(dialer, &ctrl{Op: opAccept, Addr: c.self.Address, ID: c.self.Id}); err != nil {
		c.Close()
		return
	}
	l.accept <- c // room: only this actor sends, and it checked
}

// openPipe maps the pipe a dialer offers. It must be a pipe of the
// dialer's own node (its name ends with the node's id), so that no
// dialer can make a listener open some other node's segment.
func (l *listener) openPipe(c *conn, m *ctrl) error {
	node := nodeOfAddress(m.Addr)
	if node == 0 || !strings.HasPrefix(m.Pipe, pipePrefix) || !strings.HasSuffix(m.Pipe, fmt.Sprintf("-%016x", node)) {
		return fmt.Errorf("%w: pipe %q is not one of node %016x", ErrProtocol, m.Pipe, node)
	}
	var key []byte
	switch {
	case len(m.Key) == 0 && l.sys.Sealed():
		return fmt.Errorf("%w: a plaintext stream offered to a sealed System", ErrProtocol)
	case len(m.Key) != 0 && len(m.Key) != seal.KeySize:
		return fmt.Errorf("%w: a %d-byte stream key (want %d)", ErrProtocol, len(m.Key), seal.KeySize)
	case len(m.Key) != 0:
		key = m.Key
	}
	p, err := shm.OpenPipe(l.sys.Registry().Dir(), m.Pipe)
	if err != nil {
		return err
	}
	if err := c.attach(p, 1, key, seal.Suite(m.Suite)); err != nil {
		p.Close()
		return err
	}
	return nil
}

// Accept waits for the next stream dialed to the listener's name.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.done:
		return nil, opErr("accept", nil, l.addr, net.ErrClosed)
	}
}

// Close stops listening: the name is released, dialers are refused,
// Accept fails with net.ErrClosed, and streams not yet accepted are
// closed. Streams already accepted stay open.
func (l *listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return opErr("close", nil, l.addr, net.ErrClosed)
	}
	l.closed = true
	close(l.done)
	l.mu.Unlock()
	var err error
	if e := l.sys.Root.StopFuture(l.pid).Wait(); e != nil && !errors.Is(e, proto.ErrTimeout) {
		err = e
	}
	if !l.st.closing() {
		l.released() // the System's Close releases every name itself
	}
	for {
		select {
		case c := <-l.accept:
			c.Close()
			continue
		default:
		}
		break
	}
	l.st.forget(nil, l)
	return err
}

// released waits, a while, until the registrar has released the
// listener's name, so that a Listen on it right after Close succeeds.
func (l *listener) released() {
	reg := l.sys.Registry()
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		e, err := reg.Lookup(prefix + l.addr.Name)
		if err != nil || e.Node != l.sys.NodeID() || e.Target != l.pid.Id {
			return
		}
	}
}

// Addr returns the listener's address.
func (l *listener) Addr() net.Addr { return l.addr }
