package topic

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/mailbox"
)

// Flow control between nodes for Block subscriptions.
//
// A node's inbox pump delivers every message of its process, actor
// messages and publications alike, so it never waits for one subscriber.
// When a publication from another node finds a Block subscription's
// pending queue full, the pump queues it all the same, past the limit,
// and the subscription pauses: the node that sent it is told so with a
// flow message (once per pause, and again every resendPause publications
// past the limit in case the message was lost). A node that knows of a
// pause holds back its publications that match the paused subscription's
// pattern, to that node only, until it hears that the subscription
// resumed (its queue drained to half its limit), at most for the
// subscription's Block timeout. Past the timeout it sends the publication
// marked late for that subscription (lateHeader), and if the subscription
// still has no room when it arrives, it is dropped there, counted and
// reported like any Block timeout. So what goes past the limit is what
// publishers had in flight when they were told, and the pump never waits.
//
// Flow messages travel as publications (kind publish) to flowTarget,
// which is not a valid subject, so no user publication can be taken for
// one. Pauses end with the node that set them: a publisher forgets the
// pauses of a node that left or died.

const (
	// flowTarget is the target of flow messages.
	flowTarget = "topic flow"
	// lateHeader marks a publication sent once its publisher had waited
	// out the Block timeout of the paused subscriptions it lists (ids,
	// comma-separated).
	lateHeader = "topic.late"
	// maxLate bounds the ids read from a lateHeader.
	maxLate = 64
	// maxPausesPerNode bounds the paused subscriptions remembered per node.
	maxPausesPerNode = 1024
	// resendPause is how many publications from one node may go past a
	// paused subscription's limit before the node is told again.
	resendPause = 4096
	// liveCheck is how often a held-back publisher checks that the node
	// it waits for is still there.
	liveCheck = 50 * time.Millisecond
)

// flowMsg tells a node that one of the sender's subscriptions paused or
// resumed.
type flowMsg struct {
	Sub     uint64 // the subscription's id on the sending node
	Pattern string // its pattern
	Paused  bool
	Timeout int64 // its Block timeout, in nanoseconds
}

func init() {
	if err := wire.RegisterName[*flowMsg](wire.Default, "shmactor.topic.Flow"); err != nil {
		panic(err)
	}
}

// ---- the subscriber's side (the publisher's is in flow_pause.go) ----

// subFlow is a Block subscription's flow state.
type subFlow struct {
	mu     sync.Mutex     // ordered before the pending queue's and the notifier's
	paused atomic.Bool    // set under mu
	told   map[uint64]int // nodes holding back for the pause → their publications past the limit since
}

// accept queues a publication that node from sent, on the inbox pump: it
// never waits. late says the publisher waited out this subscription's
// Block timeout for it.
func (s *Subscription) accept(from uint64, d delivery, late bool) {
	switch {
	case s.set.policy != Block:
		s.offer(d) // never waits
		return
	case late:
		s.acceptLate(from, d)
		return
	}
	before, ok := s.q.add(d)
	switch {
	case !ok:
		s.discarded.Add(1)
	case before >= s.set.pending:
		s.pause(from)
	}
}

// pause pauses the subscription for node, whose publication just went
// past the limit, and tells it so.
func (s *Subscription) pause(node uint64) {
	f := &s.flow
	f.mu.Lock()
	defer f.mu.Unlock()
	// The queue cannot drain to the resume mark unnoticed: with more than
	// that waiting, deliveries are yet to be done and each checks it.
	if s.done.Load() || s.q.len() <= s.set.pending/2 {
		return // ended, or drained meanwhile
	}
	f.paused.Store(true)
	if n := f.tell(node); n == 1 || n%resendPause == 0 {
		s.e.notify(node, s.flowMsg(true)) // under f.mu: in order with resume's
	}
}

// acceptLate queues a publication whose publisher waited out the Block
// timeout, or drops it if the subscription still has no room, as it
// would a local publisher's.
func (s *Subscription) acceptLate(from uint64, d delivery) {
	f := &s.flow
	f.mu.Lock()
	if s.done.Load() {
		f.mu.Unlock()
		s.discarded.Add(1)
		s.e.notify(from, s.flowMsg(false))
		return
	}
	if s.q.len() >= s.set.pending {
		f.paused.Store(true) // the publisher keeps holding back until resumed
		f.tell(from)
		f.mu.Unlock()
		s.drop(d.subject)
		return
	}
	before, ok := s.q.add(d)
	switch {
	case !ok:
		s.discarded.Add(1)
	case before >= s.set.pending, f.paused.Load():
		f.paused.Store(true)
		f.tell(from)
	default:
		s.e.notify(from, s.flowMsg(false)) // the publisher missed the resume
	}
	f.mu.Unlock()
}

// tell notes that node holds back for the pause and returns how many of
// its publications went past the limit since it was told. f.mu is held.
func (f *subFlow) tell(node uint64) int {
	if f.told == nil {
		f.told = map[uint64]int{}
	}
	f.told[node]++
	return f.told[node]
}

// resume ends the subscription's pause once its queue has drained to half
// its limit (at once if force), telling the nodes that hold back.
func (s *Subscription) resume(force bool) {
	f := &s.flow
	if !force && !f.paused.Load() {
		return
	}
	// When the subscription ends (force), take the lock even if not
	// paused: a pump that has not seen the end yet may be pausing it.
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.paused.Load() || (!force && s.q.len() > s.set.pending/2) {
		return
	}
	for node := range f.told {
		s.e.notify(node, s.flowMsg(false))
	}
	f.told = nil
	f.paused.Store(false)
}

func (s *Subscription) flowMsg(paused bool) *flowMsg {
	return &flowMsg{Sub: s.id, Pattern: s.pattern, Paused: paused, Timeout: int64(s.set.timeout)}
}

// unknownLate tells node, whose publication says it waited for
// subscriptions of this node that no longer exist, to stop waiting for
// them.
func (e *engine) unknownLate(node uint64, late []uint64, subs []*Subscription) {
	for _, id := range late {
		if !slices.ContainsFunc(subs, func(s *Subscription) bool { return s.id == id }) {
			e.notify(node, &flowMsg{Sub: id})
		}
	}
}

// lateFor reports whether a publication's metadata says its publisher
// waited out s's timeout.
func (s *Subscription) lateFor(late []uint64) bool { return slices.Contains(late, s.id) }

// parseLate reads a lateHeader (hostile input: ids that do not parse are
// ignored, and at most maxLate are read).
func parseLate(meta map[string]string) []uint64 {
	v := meta[lateHeader]
	if v == "" {
		return nil
	}
	var ids []uint64
	for tok := range strings.SplitSeq(v, ",") {
		if len(ids) == maxLate {
			break
		}
		if id, err := strconv.ParseUint(tok, 16, 64); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

func formatLate(ids []uint64) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(id, 16))
	}
	return b.String()
}

// notifier sends flow messages in order, per node, on a goroutine of its
// own: the pump must not wait for a full inbox.
type notifier struct {
	mu sync.Mutex
	q  map[uint64][]*flowMsg // present while a goroutine sends a node's messages
}

// notify queues m for node. A message still queued for the same
// subscription is replaced: only the latest state matters.
func (e *engine) notify(node uint64, m *flowMsg) {
	n := &e.notes
	n.mu.Lock()
	q, busy := n.q[node]
	q = slices.DeleteFunc(q, func(x *flowMsg) bool { return x.Sub == m.Sub })
	if n.q == nil {
		n.q = map[uint64][]*flowMsg{}
	}
	n.q[node] = append(q, m)
	n.mu.Unlock()
	if !busy {
		go e.sendNotes(node)
	}
}

func (e *engine) sendNotes(node uint64) {
	n := &e.notes
	for {
		n.mu.Lock()
		q := n.q[node]
		if len(q) == 0 {
			delete(n.q, node)
			n.mu.Unlock()
			return
		}
		n.q[node] = nil
		n.mu.Unlock()
		for _, m := range q {
			err := e.host.Post(node, &mailbox.Outgoing{Kind: wire.KindPublish, Target: flowTarget, Value: m})
			if err != nil && !errors.Is(err, mailbox.ErrNodeGone) && !e.closed.Load() {
				e.host.Warn("topic: flow message not sent", "node", fmt.Sprintf("%016x", node), "paused", m.Paused, "err", err)
			}
		}
	}
}
