package mailbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/shmactor/shmactor/internal/seal"
	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/registry"
	"github.com/shmactor/shmactor/shm"
)

// peer is the sending side towards one node. Senders encode their
// messages on their own goroutine and append them to the peer's queue;
// one writer goroutine per peer takes whatever has queued, packs it into
// as few frames as fit, seals each with the next sequence number and
// pushes it. One writer per peer keeps frames in sequence order, as the
// sealer requires (the nonce is the sequence number) and the receiver's
// replay window prefers; and whatever queues while the writer works goes
// out as one frame, one seal and one push, however many goroutines (or
// one fast one) sent it. The writer's goroutine lives as long as the
// peer, so its stack has grown once for the deep sealing and pushing path
// and the senders' goroutines (protoactor starts one per mailbox run)
// never grow theirs for it.
type peer struct {
	node uint64
	once sync.Once
	ring *shm.Ring
	err  error
	ctx  context.Context // cancelled when the node is gone or the mailboxes close
	gone context.CancelFunc

	mu       sync.Mutex
	cond     sync.Cond // senders waiting for room or for their outcome
	buf      []byte    // queued envelopes, each behind its 4-byte length
	items    []item    // one per queued envelope, in order
	spareBuf []byte
	spareIt  []item
	waiting  int  // senders in cond.Wait
	idle     bool // the writer waits for kick
	flushing bool // a goroutine seals and pushes: the writer, or a sender in pushNow
	closing  bool // the writer drains the queue and stops
	kick     chan struct{}
	done     chan struct{} // closed when the writer has stopped
	frame    []byte        // the writer's frame buffer
}

// item is one queued message.
type item struct {
	end    int // where its envelope ends in the queue's buf
	policy Policy
	alone  bool
	out    *Outgoing // for Undelivered; nil for a synchronous Send
	res    *result   // a synchronous Send's outcome
	err    error
	seg    *oolSeg // an out-of-line message's segment, removed if it fails
}

type result struct {
	err  error
	done bool
}

// queueLimit bounds the bytes queued to one peer; a sender that finds the
// queue full waits, drops or fails as its policy says.
func (mb *Mailboxes) queueLimit(p *peer) int { return max(4*p.ring.MaxRecord(), 256<<10) }

type encoder struct {
	enc *wire.Encoder
	buf []byte
}

// shrink drops a buffer a very large message grew, so that the pool
// does not keep it; buffers of up to 64 MiB stay, so that a stream of
// large messages does not allocate (and collect) one per message.
func (e *encoder) shrink() {
	if cap(e.buf) > 64<<20 {
		e.buf = make([]byte, 0, 512)
	}
}

// Gone marks a node as gone for good (node ids are never reused): sends
// to it fail with ErrNodeGone, what is queued to it is undelivered, and
// sends waiting for room give up. The out-of-line segments made for it
// are removed at once, and those it made for this node and never sent
// once the inbox has handed on what it did send.
func (mb *Mailboxes) Gone(node uint64) {
	mb.mu.Lock()
	p := mb.peers[node]
	delete(mb.peers, node)
	if _, known := mb.dead[node]; !known {
		// The newest gone nodes only: a send to an older one finds it
		// missing from the registry, which is ErrNodeGone as well.
		if len(mb.deadOrder) >= maxDead {
			delete(mb.dead, mb.deadOrder[0])
			mb.deadOrder = mb.deadOrder[1:]
		}
		mb.dead[node] = struct{}{}
		mb.deadOrder = append(mb.deadOrder, node)
	}
	mb.mu.Unlock()
	mb.ool.gone(node)
	if mb.fl != nil {
		mb.fl.drop(node)
	}
	mb.AfterDrained(func() { mb.sweepFrom(node) })
	if p != nil {
		p.gone()
		p.once.Do(func() {}) // a ring not opened yet stays unopened
		if p.ring != nil {
			<-p.done
			p.ring.Close()
		}
	}
}

func (mb *Mailboxes) peer(node uint64) (*peer, error) {
	mb.mu.Lock()
	if mb.closed.Load() {
		// Close has taken (or is about to take) the peers to drain and
		// close them; a peer made now would be left open.
		mb.mu.Unlock()
		return nil, ErrClosed
	}
	if _, dead := mb.dead[node]; dead {
		mb.mu.Unlock()
		return nil, fmt.Errorf("%w: node %016x", ErrNodeGone, node)
	}
	p := mb.peers[node]
	if p == nil {
		p = &peer{node: node, kick: make(chan struct{}, 1), done: make(chan struct{})}
		p.cond.L = &p.mu
		p.ctx, p.gone = context.WithCancel(context.Background())
		mb.peers[node] = p
	}
	mb.mu.Unlock()
	p.once.Do(func() {
		name, err := mb.cfg.Inbox(node)
		if errors.Is(err, registry.ErrNotFound) {
			p.err = fmt.Errorf("%w: node %016x is not in the namespace", ErrNodeGone, node)
			return
		}
		if err != nil {
			p.err = fmt.Errorf("mailbox: inbox of node %016x: %w", node, err)
			return
		}
		if p.ring, p.err = shm.OpenRing(mb.cfg.Dir, name); p.err != nil {
			p.err = fmt.Errorf("mailbox: inbox of node %016x: %w", node, p.err)
			return
		}
		// Senders waiting for room must hear that the node is gone.
		context.AfterFunc(p.ctx, func() {
			p.mu.Lock()
			p.cond.Broadcast()
			p.mu.Unlock()
		})
		go mb.write(p)
	})
	if p.err != nil {
		mb.mu.Lock()
		if mb.peers[node] == p {
			delete(mb.peers, node) // try again next time
		}
		mb.mu.Unlock()
		return nil, p.err
	}
	if p.ring == nil || p.ctx.Err() != nil {
		// Gone or Close took the peer before it was opened (they run its
		// once with nothing, and Close cancels it only after), or since.
		return nil, mb.stopped(node)
	}
	return p, nil
}

// stopped is the error for a send to a peer whose writer has stopped.
func (mb *Mailboxes) stopped(node uint64) error {
	if mb.closed.Load() {
		return ErrClosed
	}
	return fmt.Errorf("%w: node %016x", ErrNodeGone, node)
}

// Post queues one message to node with the default policy and returns:
// the message goes out shortly, on the peer's writer goroutine. Errors
// known at once (a nil message: ErrNilMessage; a Kind that is not a
// message's: ErrBadKind; an unregistered type, a message too large
// (ErrTooLarge), a gone node (ErrNodeGone), closed mailboxes (ErrClosed),
// a full queue under DropNewest or FailFast, or under Block past the
// deadline, and, for a message pushed at once from the caller's goroutine
// because nothing was queued before it, a full inbox under DropNewest or
// FailFast) are returned; a message that fails later (the receiver's
// inbox stayed full, the node died) is counted and handed to
// Config.Undelivered. m must not be changed after Post.
func (mb *Mailboxes) Post(node uint64, m *Outgoing) error {
	return mb.enqueue(node, m, mb.cfg.Policy, nil)
}

// PostPolicy is Post with a policy for this message; a policy that is
// not one of Block, DropNewest and FailFast makes ErrInvalidArgument.
func (mb *Mailboxes) PostPolicy(node uint64, m *Outgoing, policy Policy) error {
	return mb.enqueue(node, m, policy, nil)
}

// Send sends one message to node with the default policy and returns once
// it is in the receiver's inbox, or with the reason it is not (the errors
// of Post, and those Post hands to Config.Undelivered).
func (mb *Mailboxes) Send(node uint64, m *Outgoing) error {
	return mb.SendPolicy(node, m, mb.cfg.Policy)
}

// SendPolicy is Send with a policy for this message (see PostPolicy).
func (mb *Mailboxes) SendPolicy(node uint64, m *Outgoing, policy Policy) error {
	res := &result{}
	return mb.enqueue(node, m, policy, res)
}

// enqueue encodes m and appends it to node's queue; with res it waits for
// the outcome.
func (mb *Mailboxes) enqueue(node uint64, m *Outgoing, policy Policy, res *result) error {
	if err := mb.checkOut(node, m, policy); err != nil {
		return err
	}
	p, err := mb.target(node)
	if err != nil {
		return err
	}
	if b, ok := m.Value.(*Blob); ok {
		return mb.putBlob(p, b, m, policy, res)
	}
	e := mb.pool.Get().(*encoder)
	defer mb.pool.Put(e)
	env, err := mb.envelope(e, m)
	if err == nil && len(e.enc.Files) > 0 {
		env, err = mb.withFiles(e, m, node)
	}
	if err != nil {
		return err
	}
	err = mb.put(p, env, m, policy, res)
	e.shrink()
	return err
}

// PostEach posts m to each of nodes with the default policy, as Post
// does, encoding it once for all of them: a publication to every node
// that subscribes. It returns the error that concerns every node (m does
// not encode: an unregistered type, a bad kind; or ErrClosed) and
// reports each node's own failure known at once (gone, too large for its
// inbox, a full queue) to failed.
func (mb *Mailboxes) PostEach(nodes []uint64, m *Outgoing, failed func(node uint64, err error)) error {
	if err := mb.checkOut(0, m, mb.cfg.Policy); err != nil {
		return err
	}
	if _, ok := m.Value.(*Blob); ok && len(nodes) > 1 {
		return fmt.Errorf("%w: a blob goes to one receiver, not %d", ErrInvalidArgument, len(nodes))
	}
	if b, ok := m.Value.(*Blob); ok {
		for _, node := range nodes {
			p, err := mb.target(node)
			if err == nil {
				err = mb.putBlob(p, b, m, mb.cfg.Policy, nil)
			}
			if err != nil {
				failed(node, err)
			}
		}
		return nil
	}
	e := mb.pool.Get().(*encoder)
	defer mb.pool.Put(e)
	env, err := mb.envelope(e, m)
	if err != nil {
		return err
	}
	withFiles := len(e.enc.Files) > 0
	for _, node := range nodes {
		p, err := mb.target(node)
		envN := env
		if err == nil && withFiles {
			envN, err = mb.withFiles(e, m, node)
		}
		if err == nil {
			err = mb.put(p, envN, m, mb.cfg.Policy, nil)
		}
		if err != nil {
			failed(node, err)
		}
	}
	e.shrink()
	return nil
}

// checkOut refuses what no send may carry: a nil message, an unknown
// policy; and every send after Close.
func (mb *Mailboxes) checkOut(node uint64, m *Outgoing, policy Policy) error {
	switch {
	case mb.closed.Load():
		return ErrClosed
	case m == nil:
		return fmt.Errorf("%w: send to node %016x: nil Outgoing", ErrNilMessage, node)
	case m.Value == nil:
		return fmt.Errorf("%w: send to %q on node %016x", ErrNilMessage, m.Target, node)
	}
	if _, ok := m.Meta[filesKey]; ok {
		return fmt.Errorf("%w: send to %q on node %016x: metadata key %q is reserved", ErrInvalidArgument, m.Target, node, filesKey)
	}
	return validPolicy(policy)
}

// target returns the peer for sends to node, meeting the node if the
// sealer does not know it yet.
func (mb *Mailboxes) target(node uint64) (*peer, error) {
	if mb.closed.Load() {
		return nil, ErrClosed
	}
	p, err := mb.peer(node)
	if err != nil {
		return nil, err
	}
	if !mb.cfg.Sealer.HasPeer(node) && (mb.cfg.Meet == nil || !mb.cfg.Meet(node)) {
		return nil, fmt.Errorf("mailbox: send to node %016x: %w", node, seal.ErrUnknownPeer)
	}
	return p, nil
}

// put pushes or queues an encoded envelope (behind its 4-byte length) to
// p; with res it waits for the outcome.
func (mb *Mailboxes) put(p *peer, env []byte, m *Outgoing, policy Policy, res *result) error {
	node := p.node
	var seg *oolSeg
	if max := p.ring.MaxRecord() - mb.frameOverhead(); len(env) > max {
		if mb.ool.quota < 0 {
			return fmt.Errorf("%w: a %T makes a %d-byte envelope, node %016x takes at most %d", ErrTooLarge, m.Value, len(env), node, max)
		}
		if m.Alone {
			// A work queue's consumers take frames from one shared ring;
			// an out-of-line segment is named for one receiver.
			return fmt.Errorf("%w: a %T makes a %d-byte envelope, work queue records take at most %d", ErrTooLarge, m.Value, len(env), max)
		}
		var err error
		if env, seg, err = mb.outOfLine(p, env, m, policy); err != nil {
			return err
		}
	}
	// A reference that does not reach the inbox leaves its segment to
	// nobody.
	unsent := func(err error) error {
		if err != nil && seg != nil {
			mb.ool.unsent(seg)
		}
		return err
	}
	p.mu.Lock()
	if len(p.buf)+len(env) > mb.queueLimit(p) && p.ctx.Err() == nil && !p.closing {
		if err := mb.awaitRoom(p, len(env), policy); err != nil {
			p.mu.Unlock()
			return unsent(err)
		}
	}
	if p.ctx.Err() != nil || p.closing {
		p.mu.Unlock()
		return unsent(mb.stopped(node))
	}
	mb.ctr.queued.Add(1)
	it := item{policy: policy, alone: m.Alone, res: res, seg: seg}
	if len(p.items) == 0 && !p.flushing && !p.ring.Backlog() {
		// Nothing queued, nobody pushing, and the receiver has taken
		// everything: push it from here, without waking the writer.
		// (With a backlog the writer packs what queues meanwhile into
		// one frame: one seal, one push and one open for many.)
		done, err := mb.pushNow(p, env, policy)
		if done {
			p.mu.Unlock()
			return unsent(err)
		}
		it.out = keep(m, res)
		// The inbox is full: the writer waits for room. What others
		// queued meanwhile came later, so this goes first.
		n := len(env)
		p.buf = append(p.buf, env...)
		copy(p.buf[n:], p.buf[:len(p.buf)-n])
		copy(p.buf, env)
		for i := range p.items {
			p.items[i].end += n
		}
		it.end = n
		p.items = slices.Insert(p.items, 0, it)
	} else {
		it.out = keep(m, res)
		p.buf = append(p.buf, env...)
		it.end = len(p.buf)
		p.items = append(p.items, it)
	}
	if p.idle {
		p.idle = false
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
	if res == nil {
		p.mu.Unlock()
		return nil
	}
	p.waiting++
	for !res.done {
		p.cond.Wait()
	}
	p.waiting--
	p.mu.Unlock()
	return res.err
}

// pushNow seals env into a frame of its own and pushes it on the
// caller's goroutine, when nothing is queued before it and no flush is
// running: a message sent into an idle peer goes out without a hop to the
// writer. p.mu is held on entry and exit; it is released while sealing and
// pushing, and other senders queue behind meanwhile (the writer takes
// them once this push is done). It reports whether the message is dealt
// with: false when the inbox was full, for the caller to queue it to the
// writer, which waits for room as the policy says. The sequence number a
// full push used is skipped; the receiver's window accepts gaps.
func (mb *Mailboxes) pushNow(p *peer, env []byte, policy Policy) (done bool, err error) {
	p.flushing = true
	p.mu.Unlock()
	if err = p.ctx.Err(); err != nil {
		err = mb.stopped(p.node)
	} else {
		err = mb.frame(p, env, FailFast)
	}
	p.mu.Lock()
	p.flushing = false
	if p.idle && (len(p.items) > 0 || p.closing || p.ctx.Err() != nil) {
		p.idle = false
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
	switch {
	case err == nil:
		mb.ctr.sent.Add(1)
		return true, nil
	case errors.Is(err, ErrFull) && policy != FailFast:
		if policy == DropNewest {
			mb.ctr.dropped.Add(1)
			return true, fmt.Errorf("%w (node %016x)", ErrDropped, p.node)
		}
		return false, nil
	case errors.Is(err, ErrFull):
		mb.ctr.full.Add(1)
	default:
		mb.ctr.failed.Add(1)
	}
	return true, err
}

// keep returns a copy of a posted message for Undelivered, nil for a
// synchronous Send: a message pushed at once is never kept, so the
// caller's Outgoing need not escape to the heap.
func keep(m *Outgoing, res *result) *Outgoing {
	if res != nil {
		return nil
	}
	c := *m
	return &c
}

// awaitRoom applies policy to a sender that found the queue full. p.mu is
// held.
func (mb *Mailboxes) awaitRoom(p *peer, n int, policy Policy) error {
	switch policy {
	case DropNewest:
		mb.ctr.dropped.Add(1)
		return fmt.Errorf("%w (node %016x)", ErrDropped, p.node)
	case FailFast:
		mb.ctr.full.Add(1)
		return fmt.Errorf("%w (node %016x)", ErrFull, p.node)
	}
	expired := false
	t := time.AfterFunc(mb.cfg.Timeout, func() {
		p.mu.Lock()
		expired = true
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer t.Stop()
	p.waiting++
	defer func() { p.waiting-- }()
	for len(p.buf)+n > mb.queueLimit(p) && p.ctx.Err() == nil && !p.closing {
		if expired {
			mb.ctr.full.Add(1)
			return fmt.Errorf("%w (node %016x, waited %v)", ErrFull, p.node, mb.cfg.Timeout)
		}
		p.cond.Wait()
	}
	return nil
}

// envelope encodes m's envelope, behind a 4-byte length, in e's buffer.
func (mb *Mailboxes) envelope(e *encoder, m *Outgoing) ([]byte, error) {
	if m.Kind < wire.KindUser || m.Kind >= wire.KindBatch {
		return nil, fmt.Errorf("%w: %v", ErrBadKind, m.Kind)
	}
	name, err := mb.cfg.Types.NameOf(m.Value)
	if err != nil {
		return nil, err
	}
	b := append(e.buf[:0], 0, 0, 0, 0)
	h := wire.Header{Kind: m.Kind, SenderAddress: m.SenderAddress, SenderID: m.SenderID, Target: m.Target, Corr: m.Corr, Type: name}
	// What the receiver's decoder would refuse is refused here, at the
	// call: a message the sender counts as sent is one the receiver takes.
	if err := wire.CheckHeader(&h); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	if len(m.Meta) > 0 {
		if err := wire.CheckStringMap(m.Meta); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTooLarge, err)
		}
		h.Flags = wire.FlagMeta
	}
	b = wire.AppendHeader(b, &h)
	if len(m.Meta) > 0 {
		b = wire.AppendStringMap(b, m.Meta)
	}
	b, err = e.enc.AppendPayload(b, m.Value)
	e.buf = b
	if err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b, nil
}

// maxOuterHeader bounds the encoded size of a frame's outer header.
const maxOuterHeader = 48

func (mb *Mailboxes) frameOverhead() int { return maxOuterHeader + mb.cfg.Sealer.Overhead() }

// write is a peer's writer: it sends what is queued until the peer is
// gone, or closing and drained.
func (mb *Mailboxes) write(p *peer) {
	defer close(p.done)
	for {
		p.mu.Lock()
		for len(p.items) == 0 || p.flushing {
			if len(p.items) == 0 && !p.flushing && (p.closing || p.ctx.Err() != nil) {
				p.mu.Unlock()
				return
			}
			p.idle = true
			p.mu.Unlock()
			select {
			case <-p.kick:
			case <-p.ctx.Done():
			}
			p.mu.Lock()
		}
		p.idle = false
		p.flushing = true
		buf, items := p.buf, p.items
		p.buf, p.items = p.spareBuf[:0], p.spareIt[:0]
		if p.waiting > 0 {
			p.cond.Broadcast() // room
		}
		p.mu.Unlock()

		failed := mb.flush(p, buf, items)

		p.mu.Lock()
		p.flushing = false
		for i := range items {
			if r := items[i].res; r != nil {
				r.err, r.done = items[i].err, true
			}
		}
		if p.waiting > 0 {
			p.cond.Broadcast() // outcomes
		}
		var undelivered []item
		if failed && mb.cfg.Undelivered != nil {
			for _, it := range items {
				if it.err != nil && it.out != nil {
					undelivered = append(undelivered, it)
				}
			}
		}
		clear(items)
		p.spareBuf, p.spareIt = buf[:0], items[:0]
		p.mu.Unlock()
		if len(undelivered) > 0 {
			// On a goroutine of their own: the callback may send, and
			// this writer must not wait for room only it can make.
			go func() {
				for _, it := range undelivered {
					mb.cfg.Undelivered(p.node, it.out, it.err)
				}
			}()
		}
	}
}

// flush pushes queued envelopes to the peer, as few frames as fit, each
// with the next sequence number, in order, and records each item's
// outcome; it reports whether any failed. A run of envelopes with one
// policy shares a frame, except those sent Alone.
func (mb *Mailboxes) flush(p *peer, buf []byte, items []item) (failed bool) {
	s := mb.cfg.Sealer
	max := p.ring.MaxRecord()
	start := 0 // where items[i]'s envelope starts
	for i := 0; i < len(items); {
		policy := items[i].policy
		j := i + 1
		if !items[i].alone {
			for j < len(items) && items[j].policy == policy && !items[j].alone && maxOuterHeader+items[j].end-start+s.Overhead() <= max {
				j++
			}
		}
		end := items[j-1].end
		err := p.ctx.Err()
		if err != nil {
			err = mb.stopped(p.node)
		} else {
			err = mb.frame(p, buf[start:end], policy)
		}
		n := uint64(j - i)
		if err == nil {
			mb.ctr.sent.Add(n)
		} else {
			failed = true
			switch {
			case errors.Is(err, ErrDropped):
				mb.ctr.dropped.Add(n)
			case errors.Is(err, ErrFull):
				mb.ctr.full.Add(n)
			default:
				mb.ctr.failed.Add(n)
			}
			for k := i; k < j; k++ {
				items[k].err = err
				if s := items[k].seg; s != nil {
					mb.ool.unsent(s)
				}
			}
		}
		i, start = j, end
	}
	return failed
}

// frame seals body (envelopes behind their lengths) into one frame and
// pushes it.
func (mb *Mailboxes) frame(p *peer, body []byte, policy Policy) error {
	s := mb.cfg.Sealer
	seq, epoch, err := s.Next(p.node)
	if err != nil {
		return err
	}
	oh := wire.Header{Kind: wire.KindBatch, From: mb.cfg.Self, To: p.node, Seq: seq, Epoch: epoch}
	if !s.Plaintext() {
		oh.Flags = wire.FlagSealed
	}
	b := wire.AppendHeader(p.frame[:0], &oh)
	b, err = s.SealAppend(b, body, p.node, seq)
	p.frame = b
	if err != nil {
		return err
	}
	return mb.push(p, b, policy)
}

// push pushes one frame, applying the policy when the inbox is full.
func (mb *Mailboxes) push(p *peer, frame []byte, policy Policy) error {
	err := p.ring.TryPush(frame)
	if err == nil {
		return nil
	}
	if !errors.Is(err, shm.ErrFull) {
		return mb.pushErr(p.node, err)
	}
	switch policy {
	case DropNewest:
		return fmt.Errorf("%w (node %016x)", ErrDropped, p.node)
	case FailFast:
		return fmt.Errorf("%w (node %016x)", ErrFull, p.node)
	}
	ctx, cancel := context.WithTimeout(p.ctx, mb.cfg.Timeout)
	defer cancel()
	if err := p.ring.Push(ctx, frame); err != nil {
		if p.ctx.Err() != nil {
			return mb.stopped(p.node)
		}
		if errors.Is(err, shm.ErrFull) {
			return fmt.Errorf("%w (node %016x, waited %v)", ErrFull, p.node, mb.cfg.Timeout)
		}
		return mb.pushErr(p.node, err)
	}
	return nil
}

func (mb *Mailboxes) pushErr(node uint64, err error) error {
	if errors.Is(err, shm.ErrClosed) {
		return fmt.Errorf("%w: node %016x", ErrNodeGone, node)
	}
	return fmt.Errorf("mailbox: send to node %016x: %w", node, err)
}

// closePeers drains every peer's queue (each writer gets up to the send
// timeout) and stops the writers.
func (mb *Mailboxes) closePeers() {
	mb.mu.Lock()
	peers := mb.peers
	mb.peers = map[uint64]*peer{}
	mb.mu.Unlock()
	deadline := time.Now().Add(mb.cfg.Timeout)
	for _, p := range peers {
		p.once.Do(func() {})
		if p.ring == nil {
			p.gone()
			continue
		}
		p.mu.Lock()
		p.closing = true
		if p.idle {
			p.idle = false
			select {
			case p.kick <- struct{}{}:
			default:
			}
		}
		p.mu.Unlock()
	}
	for _, p := range peers {
		if p.ring == nil {
			continue
		}
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-p.done:
		case <-t.C:
			p.gone() // past the deadline: what is left is undelivered
			<-p.done
		}
		t.Stop()
		p.gone()
		p.ring.Close()
	}
}
