package actor

import (
	"reflect"
	"slices"
	"sync"
	"time"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/internal/link"
	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/mailbox"
)

// SyncRequest asks a node to bring its view of the namespace registry up
// to date and answer with SyncReply: the barrier that makes a new
// subscription routed everywhere before Subscribe returns.
type SyncRequest struct{ ID uint64 }

// SyncReply answers SyncRequest ID.
type SyncReply struct{ ID uint64 }

func init() {
	for _, err := range []error{
		wire.RegisterName[*SyncRequest](wire.Default, "shmactor.SyncRequest"),
		wire.RegisterName[*SyncReply](wire.Default, "shmactor.SyncReply"),
	} {
		if err != nil {
			panic(err)
		}
	}
}

// barriers are the barriers this node waits on.
type barriers struct {
	mu   sync.Mutex
	next uint64
	wait map[uint64]*barrier
}

type barrier struct {
	left map[uint64]bool // nodes yet to answer
	done chan struct{}
}

// answered marks node as done for barrier id (every barrier when id is
// 0: the node is gone).
func (b *barriers) answered(id, node uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for bid, w := range b.wait {
		if id != 0 && bid != id {
			continue
		}
		if w.left[node] {
			delete(w.left, node)
			if len(w.left) == 0 {
				close(w.done)
			}
		}
	}
}

// barrier returns when every other node has applied the registry changes
// this node made before the call: each is asked to sync its view and
// answer. Nodes that leave or die meanwhile need not answer. At timeout it
// returns the nodes that did not answer.
func (s *System) barrier(timeout time.Duration) []uint64 {
	if err := s.reg.Sync(); err != nil {
		return nil // closed
	}
	w := &barrier{left: map[uint64]bool{}, done: make(chan struct{})}
	var peers []uint64
	for _, n := range s.reg.Nodes() {
		if n.ID != s.id {
			w.left[n.ID] = true
			peers = append(peers, n.ID)
		}
	}
	if len(peers) == 0 {
		return nil
	}
	s.syncs.mu.Lock()
	s.syncs.next++
	id := s.syncs.next
	if s.syncs.wait == nil {
		s.syncs.wait = map[uint64]*barrier{}
	}
	s.syncs.wait[id] = w
	s.syncs.mu.Unlock()
	defer func() {
		s.syncs.mu.Lock()
		delete(s.syncs.wait, id)
		s.syncs.mu.Unlock()
	}()
	for _, node := range peers {
		err := s.mb.Post(node, &mailbox.Outgoing{Kind: wire.KindControl, Target: queueControl, Value: &SyncRequest{ID: id}})
		if err != nil {
			s.syncs.answered(id, node) // gone: it routes nothing
		}
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-w.done:
			return nil
		case <-tick.C:
			// Nodes that left without answering route nothing either.
			for _, node := range peers {
				if _, err := s.reg.Node(node); err != nil {
					s.syncs.answered(id, node)
				}
			}
		case <-deadline.C:
			s.syncs.mu.Lock()
			defer s.syncs.mu.Unlock()
			var missing []uint64
			for node := range w.left {
				missing = append(missing, node)
			}
			slices.Sort(missing)
			return missing
		}
	}
}

// syncControl handles the barrier's control messages; it runs on the
// pump and must not block.
func (s *System) syncControl(m *mailbox.Message) bool {
	switch v := m.Value.(type) {
	case *SyncRequest:
		from, id := m.From, v.ID
		go func() {
			s.reg.Sync()
			s.remote(from).post(&mailbox.Outgoing{Kind: wire.KindControl, Target: queueControl, Value: &SyncReply{ID: id}})
		}()
		return true
	case *SyncReply:
		s.syncs.answered(v.ID, m.From)
		return true
	}
	return false
}

// newHost makes the link.Host of this system.
func (s *System) newHost() *link.Host {
	return &link.Host{
		Node:     s.id,
		Registry: s.reg,
		Warn:     s.warn,
		Post: func(node uint64, out *mailbox.Outgoing) error {
			return sendErr(s.mb.Post(node, out))
		},
		PostEach: func(nodes []uint64, out *mailbox.Outgoing, failed func(uint64, error)) error {
			return sendErr(s.mb.PostEach(nodes, out, func(node uint64, err error) { failed(node, sendErr(err)) }))
		},
		PostQueue: func(name string, out *mailbox.Outgoing) error {
			q, err := s.queue(name)
			if err != nil {
				return err
			}
			out.Alone = true
			return sendErr(s.mb.Post(q.id, out))
		},
		CheckType: func(msg any) error {
			if _, err := s.types.NameOf(msg); err != nil {
				return unregistered(reflect.TypeOf(msg))
			}
			return nil
		},
		StopConsumer: s.stopQueueConsumer,
		Barrier:      s.barrier,
	}
}

// stopQueueConsumer stops a consumer's pump, then its actor.
func (s *System) stopQueueConsumer(pid *proto.PID) {
	s.qmu.Lock()
	var found *queueConsumer
	for _, q := range s.queues {
		q.mu.Lock()
		for _, qc := range q.cons {
			if qc.pid.Equal(pid) {
				found = qc
			}
		}
		q.mu.Unlock()
	}
	s.qmu.Unlock()
	if found != nil {
		found.c.Close()
	}
	s.Root.Stop(pid)
}
