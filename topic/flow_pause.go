package topic

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmactor/shmactor/mailbox"
)

// The publisher's side of flow control (flow.go): the pauses other nodes
// told this node of, and Publish holding back for them.

// pauses are the subscriptions of other nodes that paused this node's
// publications to them.
type pauses struct {
	mu      sync.Mutex
	n       atomic.Int32 // entries: Publish's fast path reads it
	byNode  map[uint64]map[uint64]pause
	changed chan struct{} // closed and replaced at every change
}

type pause struct {
	pattern string
	timeout time.Duration
}

// set applies a flow message from node.
func (p *pauses) set(node uint64, m *flowMsg) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	subs := p.byNode[node]
	_, had := subs[m.Sub]
	switch {
	case !m.Paused && !had:
		return nil
	case !m.Paused:
		delete(subs, m.Sub)
		if len(subs) == 0 {
			delete(p.byNode, node)
		}
		p.n.Add(-1)
	default:
		if err := ValidPattern(m.Pattern); err != nil {
			return err
		}
		if !had && len(subs) >= maxPausesPerNode {
			return fmt.Errorf("more than %d paused subscriptions", maxPausesPerNode)
		}
		timeout := time.Duration(m.Timeout)
		if timeout <= 0 {
			timeout = DefaultBlockTimeout
		}
		if subs == nil {
			if p.byNode == nil {
				p.byNode = map[uint64]map[uint64]pause{}
			}
			subs = map[uint64]pause{}
			p.byNode[node] = subs
		}
		subs[m.Sub] = pause{pattern: m.Pattern, timeout: timeout}
		if !had {
			p.n.Add(1)
		}
	}
	p.wake()
	return nil
}

// forget drops the pauses of a node that is gone.
func (p *pauses) forget(node uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if subs, ok := p.byNode[node]; ok {
		p.n.Add(-int32(len(subs)))
		delete(p.byNode, node)
		p.wake()
	}
}

// wake tells the waiting publishers that something changed. p.mu is held.
func (p *pauses) wake() {
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}

// nodes returns the nodes with paused subscriptions.
func (p *pauses) nodes() []uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]uint64, 0, len(p.byNode))
	for node := range p.byNode {
		out = append(out, node)
	}
	return out
}

// matching returns node's paused subscriptions whose pattern matches
// subject, the longest of their timeouts, and a channel closed at the
// next change.
func (p *pauses) matching(node uint64, subject string) (ids []uint64, timeout time.Duration, changed <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, ps := range p.byNode[node] {
		if Match(ps.pattern, subject) {
			ids = append(ids, id)
			timeout = max(timeout, ps.timeout)
		}
	}
	if len(ids) > 0 {
		if p.changed == nil {
			p.changed = make(chan struct{})
		}
		changed = p.changed
	}
	return ids, timeout, changed
}

// isPaused reports whether node has paused a subscription matching
// subject.
func (p *pauses) isPaused(node uint64, subject string) bool {
	if p.n.Load() == 0 {
		return false
	}
	ids, _, _ := p.matching(node, subject)
	return len(ids) > 0
}

// onFlow applies a flow message from another node; it runs on the pump.
func (e *engine) onFlow(m *mailbox.Message) {
	f, ok := m.Value.(*flowMsg)
	if m.Err != nil || !ok {
		e.rejected.Add(1)
		e.host.Warn("topic: undecodable flow message dropped", "type", m.Type, "from", fmt.Sprintf("%016x", m.From), "err", m.Err)
		return
	}
	if err := e.paused.set(m.From, f); err != nil {
		e.rejected.Add(1)
		e.host.Warn("topic: flow message refused", "from", fmt.Sprintf("%016x", m.From), "err", err)
	}
}

// await holds a publication on subject back while node has a matching
// subscription paused, until the longest of their Block timeouts counted
// from start; it returns the subscriptions still paused then.
func (e *engine) await(node uint64, subject string, start time.Time) (late []uint64) {
	var live *time.Ticker
	for {
		ids, timeout, changed := e.paused.matching(node, subject)
		if len(ids) == 0 {
			late = nil
			break
		}
		left := timeout - time.Since(start)
		if left <= 0 {
			late = ids
			break
		}
		if live == nil {
			live = time.NewTicker(liveCheck)
		}
		timer := time.NewTimer(left)
		select {
		case <-changed:
		case <-timer.C:
		case <-live.C:
			if !e.alive(node) {
				e.paused.forget(node)
			}
		}
		timer.Stop()
	}
	if live != nil {
		live.Stop()
	}
	return late
}

// alive reports whether node is still in the namespace.
func (e *engine) alive(node uint64) bool {
	_, err := e.host.Registry.Node(node)
	return err == nil
}

// prunePauses forgets the pauses of nodes that are gone; it runs when the
// registry's view changes.
func (e *engine) prunePauses() {
	if e.paused.n.Load() == 0 {
		return
	}
	for _, node := range e.paused.nodes() {
		if !e.alive(node) {
			e.paused.forget(node)
		}
	}
}
