package stream

import (
	"fmt"
	"sync"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/link"
)

// state is a System's streams and listeners, closed with the System.
type state struct {
	sys   *actor.System
	mu    sync.Mutex
	conns map[*conn]struct{}
	lns   map[*listener]struct{}
	done  bool
}

// stateOf returns sys's stream state, made on first use.
func stateOf(sys *actor.System) (*state, error) {
	if sys == nil {
		return nil, fmt.Errorf("%w: nil System", ErrInvalidArgument)
	}
	host := link.Of(sys.ActorSystem)
	if host == nil {
		return nil, fmt.Errorf("stream: %w", actor.ErrClosed)
	}
	v := host.Ext("stream", func() (any, func()) {
		st := &state{sys: sys, conns: map[*conn]struct{}{}, lns: map[*listener]struct{}{}}
		return st, st.close
	})
	if v == nil {
		return nil, fmt.Errorf("stream: %w", actor.ErrClosed)
	}
	return v.(*state), nil
}

// add remembers c, or reports that the System is closing.
func (st *state) add(c *conn, l *listener) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done {
		return fmt.Errorf("stream: %w", actor.ErrClosed)
	}
	if c != nil {
		st.conns[c] = struct{}{}
	}
	if l != nil {
		st.lns[l] = struct{}{}
	}
	return nil
}

// closing reports whether the System is closing its streams.
func (st *state) closing() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.done
}

func (st *state) forget(c *conn, l *listener) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.conns, c)
	delete(st.lns, l)
}

// close closes every listener and stream of the System, telling their
// peers, before the System leaves the namespace.
func (st *state) close() {
	st.mu.Lock()
	st.done = true
	lns, conns := st.lns, st.conns
	st.lns, st.conns = map[*listener]struct{}{}, map[*conn]struct{}{}
	st.mu.Unlock()
	for l := range lns {
		l.Close()
	}
	for c := range conns {
		c.Close()
	}
}
