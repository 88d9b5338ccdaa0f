package actor

import (
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/internal/seal"
	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/mailbox"
	"github.com/shmactor/shmactor/registry"
	"github.com/shmactor/shmactor/shm"
)

// Work queues. A queue is a ring in the namespace that any node pushes
// to and several nodes consume, each message going to exactly one
// consumer. Its PIDs have the address "shm://<namespace>/queue" and the
// queue's name as id.
//
// Sealing: a queue has its own X25519 key pair and acts as a node of its
// own (an id derived from its name, with the top bit set, so it never
// meets a node id). Producers seal to the queue's public key, kept in the
// file "k.<name>"; consumers open with its private key. Every node that
// uses a queue, producing or consuming, holds the key pair and is a holder
// of the shared name "queue/<name>". A node that starts using a queue
// asks a holder for the key (KeyRequest, answered with KeyGrant, both
// over the sealed node-to-node channel, so a trust store gates them like
// any message). The first node creates the queue: its ring and its key.
// If holders are gone (every node that used the queue died), the next
// node makes a new key pair; frames sealed to the old one can no longer be
// opened and are counted and dropped. The last holder to leave removes the
// queue. The lock file "queues.lock" serializes creating, re-keying and
// removing queues and becoming a holder, so those never cross.

const (
	queueNode    = "queue"     // the node part of queue PIDs
	queueControl = "$shmactor" // target of control messages
	queueLock    = "queues.lock"
	keyWait      = 3 * time.Second // how long to wait for a KeyGrant
	lockWait     = 5 * time.Second // how long to wait for the queue lock
	ackMeta      = "shmactor.queue"
	holderPrefix = "queue/"
)

var (
	queueB32 = base32.HexEncoding.WithPadding(base32.NoPadding)
	errRetry = errors.New("queue changed; retry")
)

// KeyRequest asks a holder of queue Queue for its key.
type KeyRequest struct{ Queue string }

// KeyGrant hands a queue's key pair to a node that uses the queue.
type KeyGrant struct {
	Queue   string
	Epoch   uint32
	Public  []byte
	Private []byte
}

func init() {
	for _, err := range []error{
		wire.RegisterName[*KeyRequest](wire.Default, "shmactor.KeyRequest"),
		wire.RegisterName[*KeyGrant](wire.Default, "shmactor.KeyGrant"),
	} {
		if err != nil {
			panic(err)
		}
	}
}

// queue is this node's state for one queue.
type queue struct {
	name string
	id   uint64
	ring string // ring segment
	key  string // public key file

	join  sync.Mutex  // serializes joining the queue
	ready atomic.Bool // this node holds the queue

	mu     sync.Mutex // guards the rest
	keys   *seal.KeyPair
	sealer *seal.Sealer // opens frames as the queue
	grant  chan *KeyGrant
	cons   []*queueConsumer
}

type queueConsumer struct {
	q   *queue
	pid *proto.PID
	c   *mailbox.Consumer
	ack chan struct{}
}

func queueFiles(name string) (ring, key string) {
	enc := strings.ToLower(queueB32.EncodeToString([]byte(name)))
	return "q." + enc, "k." + enc
}

func queueID(ns, name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(ns + "\x00" + name))
	return h.Sum64() | 1<<63
}

// QueuePID returns the PID of the work queue name: a message sent to it
// goes to exactly one of the queue's consumers (see ConsumeQueue), and
// waits in the queue until one takes it. The queue is created if it does
// not exist. A name outside the registry's rules (registry.ValidName, and
// at most registry.MaxNameLen-6 bytes) makes an error wrapping
// registry.ErrInvalidName; a closed System, ErrClosed.
func (s *System) QueuePID(name string) (*PID, error) {
	if _, err := s.queue(name); err != nil {
		return nil, err
	}
	return proto.NewPID(s.prefix+queueNode, name), nil
}

// queue returns this node's state for a queue, joining it (and creating
// it if nobody has) on first use.
func (s *System) queue(name string) (*queue, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("%w: queue %q", ErrClosed, name)
	}
	s.qmu.Lock()
	q := s.queues[name]
	if q == nil {
		err := registry.ValidName(name)
		if max := registry.MaxNameLen - len(holderPrefix); err == nil && len(name) > max {
			err = fmt.Errorf("%w: %q... is %d bytes, a queue's name at most %d", registry.ErrInvalidName, name[:32], len(name), max)
		}
		if err != nil {
			s.qmu.Unlock()
			return nil, fmt.Errorf("shmactor: queue %q: %w", name, err)
		}
		ring, key := queueFiles(name)
		q = &queue{name: name, id: queueID(s.ns, name), ring: ring, key: key}
		s.queues[name] = q
	}
	s.qmu.Unlock()
	if q.ready.Load() {
		return q, nil
	}
	q.join.Lock()
	defer q.join.Unlock()
	if q.ready.Load() {
		return q, nil
	}
	if err := s.joinQueue(q); err != nil {
		return nil, fmt.Errorf("shmactor: queue %q: %w", name, err)
	}
	q.ready.Store(true)
	return q, nil
}

// withQueueLock runs fn holding the namespace's queue lock. (A Lock is
// one process's: qlockMu keeps this node's goroutines apart.)
func (s *System) withQueueLock(fn func() error) error {
	s.qlockMu.Lock()
	defer s.qlockMu.Unlock()
	s.qmu.Lock()
	if s.qlock == nil {
		l, err := s.reg.Dir().OpenLock(queueLock)
		if err != nil {
			s.qmu.Unlock()
			return err
		}
		s.qlock = l
	}
	l := s.qlock
	s.qmu.Unlock()
	if err := l.Lock(lockWait); err != nil {
		return err
	}
	defer l.Unlock()
	return fn()
}

// readQueueKey reads q's key file: its epoch and public key, or
// shm.ErrNotFound.
func (s *System) readQueueKey(q *queue) (pub [seal.KeySize]byte, epoch uint32, err error) {
	b, err := s.reg.Dir().ReadFile(q.key, 64)
	if err != nil {
		return pub, 0, err
	}
	if len(b) != 4+seal.KeySize {
		return pub, 0, fmt.Errorf("%w: key file %s of %d bytes, want %d", shm.ErrCorrupt, q.key, len(b), 4+seal.KeySize)
	}
	copy(pub[:], b[4:])
	return pub, binary.BigEndian.Uint32(b), nil
}

// joinQueue makes this node a holder of q: it gets the key pair from a
// holder, or creates the queue (ring and key) when there is none, or
// re-keys it when no holder is alive. q.join is held.
func (s *System) joinQueue(q *queue) error {
	if s.sealer.Plaintext() {
		if err := s.sealer.AddPeer(seal.Peer{Node: q.id, Vouched: true}); err != nil {
			return err
		}
		return s.withQueueLock(func() error {
			if err := s.ensureRing(q); err != nil {
				return err
			}
			return s.reg.Subscribe(holderPrefix+q.name, "")
		})
	}
	for range 3 {
		pub, epoch, err := s.readQueueKey(q)
		found := err == nil
		if err != nil && !errors.Is(err, shm.ErrNotFound) {
			return err
		}
		if found {
			if kp := s.askHolders(q, pub, epoch); kp != nil {
				err := s.withQueueLock(func() error {
					if cur, _, err := s.readQueueKey(q); err != nil || cur != pub {
						return errRetry // re-keyed or removed meanwhile
					}
					return s.holdQueue(q, kp)
				})
				if err == nil {
					return nil
				}
				kp.Wipe()
				if errors.Is(err, errRetry) {
					continue
				}
				return err
			}
		}
		err = s.withQueueLock(func() error {
			cur, _, err := s.readQueueKey(q)
			switch {
			case err != nil && !errors.Is(err, shm.ErrNotFound):
				return err
			case (err == nil) != found || found && cur != pub:
				return errRetry // created or re-keyed meanwhile
			case found && len(s.otherHolders(q)) > 0:
				return errRetry // holders that did not answer in time, or new ones
			case found:
				s.warn("shmactor: no node holding the queue's key is alive; making a new one (frames sealed to the old key will be dropped)", "queue", q.name)
				if err := s.reg.Dir().Remove(q.key); err != nil && !errors.Is(err, shm.ErrNotFound) {
					return err
				}
			}
			if err := s.ensureRing(q); err != nil {
				return err
			}
			kp, err := seal.NewKeyPair(epoch + 1)
			if err != nil {
				return err
			}
			rec := binary.BigEndian.AppendUint32(nil, kp.Epoch)
			rec = append(rec, kp.Public[:]...)
			if err := s.reg.Dir().WriteFile(q.key, rec); err != nil {
				kp.Wipe()
				return err
			}
			if err := s.holdQueue(q, kp); err != nil {
				kp.Wipe()
				return err
			}
			return nil
		})
		if !errors.Is(err, errRetry) {
			return err
		}
	}
	return errors.New("its key keeps changing, or its holders do not answer")
}

// ensureRing creates q's ring if it does not exist. The queue lock is
// held.
func (s *System) ensureRing(q *queue) error {
	r, err := shm.CreateRing(s.reg.Dir(), q.ring, &s.queueRing)
	if errors.Is(err, shm.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return r.Close()
}

// otherHolders lists the nodes other than this one that hold q, as of
// now.
func (s *System) otherHolders(q *queue) []uint64 {
	s.reg.Sync()
	var ids []uint64
	for _, h := range s.reg.Holders(holderPrefix + q.name) {
		if h.Node != s.id {
			ids = append(ids, h.Node)
		}
	}
	return ids
}

// holdQueue makes this node a holder of q's key pair kp. The queue lock
// is held.
func (s *System) holdQueue(q *queue, kp *seal.KeyPair) error {
	sealer, err := seal.New(seal.Config{Namespace: s.ns, Node: q.id, Keys: kp, Trust: s.trust})
	if err != nil {
		return err
	}
	// The queue's holders all run on this machine's CPU: the queue offers
	// AES-256-GCM when this node does.
	if err := s.sealer.AddPeer(seal.Peer{Node: q.id, Public: kp.Public, Epoch: kp.Epoch, AES: s.sealer.Self().AES, Vouched: true}); err != nil {
		sealer.Close()
		return err
	}
	if err := s.reg.Subscribe(holderPrefix+q.name, ""); err != nil {
		sealer.Close()
		return err
	}
	q.mu.Lock()
	q.keys, q.sealer = kp, sealer
	q.mu.Unlock()
	return nil
}

// askHolders asks the holders of q for its key pair and returns the first
// that matches pub, or nil when none answers within keyWait.
func (s *System) askHolders(q *queue, pub [seal.KeySize]byte, epoch uint32) *seal.KeyPair {
	holders := s.otherHolders(q)
	if len(holders) == 0 {
		return nil
	}
	grants := make(chan *KeyGrant, len(holders))
	q.mu.Lock()
	q.grant = grants
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.grant = nil
		q.mu.Unlock()
	}()
	asked := 0
	for _, h := range holders {
		if s.remote(h).post(&mailbox.Outgoing{Kind: wire.KindControl, Target: queueControl, Value: &KeyRequest{Queue: q.name}}) == nil {
			asked++
		}
	}
	deadline := time.NewTimer(keyWait)
	defer deadline.Stop()
	for ; asked > 0; asked-- {
		var g *KeyGrant
		select {
		case g = <-grants:
		case <-deadline.C:
		}
		if g == nil {
			return nil
		}
		if g.Epoch != epoch || len(g.Private) != seal.KeySize || len(g.Public) != seal.KeySize {
			clear(g.Private)
			continue
		}
		kp, err := seal.KeyPairFrom(g.Private, g.Epoch)
		clear(g.Private)
		if err != nil {
			continue
		}
		if kp.Public != pub {
			kp.Wipe()
			continue // a key of another epoch, or a lie
		}
		return kp
	}
	return nil
}

// control handles control messages between nodes (the queue key
// protocol); it runs on the pump and must not block.
func (s *System) control(m *mailbox.Message) {
	switch v := m.Value.(type) {
	case *KeyRequest:
		s.qmu.Lock()
		q := s.queues[v.Queue]
		s.qmu.Unlock()
		if q == nil {
			return
		}
		q.mu.Lock()
		kp := q.keys
		q.mu.Unlock()
		if kp == nil {
			return
		}
		grant := &KeyGrant{Queue: v.Queue, Epoch: kp.Epoch, Public: append([]byte(nil), kp.Public[:]...), Private: kp.PrivateBytes()}
		from := m.From
		go func() { // sending may wait for room; the pump must not
			s.remote(from).post(&mailbox.Outgoing{Kind: wire.KindControl, Target: queueControl, Value: grant})
			clear(grant.Private)
		}()
	case *KeyGrant:
		s.qmu.Lock()
		q := s.queues[v.Queue]
		s.qmu.Unlock()
		if q == nil {
			return
		}
		q.mu.Lock()
		if q.grant != nil {
			select {
			case q.grant <- v:
			default:
			}
		}
		q.mu.Unlock()
	}
}

// ConsumeQueue spawns an actor from props that consumes the work queue
// name: each message sent to the queue is handled by exactly one of its
// consumers, in any process. A consumer takes the next message only when
// its actor has handled the last one, so a consumer that dies loses only
// the message it was handling. The consumer stops when its actor stops.
// (props gets a receiver middleware that reports each handled message.)
// Nil props make an error wrapping ErrInvalidArgument; the name is checked
// as by QueuePID; a closed System makes ErrClosed.
func (s *System) ConsumeQueue(name string, props *Props) (*PID, error) {
	if props == nil && !s.closed.Load() {
		return nil, fmt.Errorf("%w: consume queue %q: nil Props", ErrInvalidArgument, name)
	}
	q, err := s.queue(name)
	if err != nil {
		return nil, err
	}
	q.mu.Lock()
	sealer := q.sealer
	q.mu.Unlock()
	if sealer == nil { // plaintext
		if sealer, err = seal.New(seal.Config{Namespace: s.ns, Node: q.id, Plaintext: true}); err != nil {
			return nil, err
		}
	}
	qc := &queueConsumer{q: q, ack: make(chan struct{}, 1)}
	props.Configure(proto.WithReceiverMiddleware(func(next proto.ReceiverFunc) proto.ReceiverFunc {
		return func(c proto.ReceiverContext, env *proto.MessageEnvelope) {
			if env.GetHeader(ackMeta) != "" {
				defer func() {
					select {
					case qc.ack <- struct{}{}:
					default:
					}
				}()
			}
			next(c, env)
		}
	}))
	qc.pid = s.Root.Spawn(props)
	meet := func(node uint64) bool {
		n, err := s.reg.Node(node)
		if err != nil {
			return false
		}
		return sealer.AddPeer(peerOf(n)) == nil
	}
	qc.c, err = s.mb.Consume(q.ring, &s.queueRing, sealer, meet, func(m *mailbox.Message) { s.deliverQueued(qc, m) })
	if err != nil {
		s.Root.Stop(qc.pid)
		return nil, err
	}
	q.mu.Lock()
	q.cons = append(q.cons, qc)
	q.mu.Unlock()
	s.Root.Send(s.registrar, &keepConsumer{qc: qc})
	return qc.pid, nil
}

// deliverQueued hands a queued message to the consumer actor and waits
// until the actor has handled it.
func (s *System) deliverQueued(qc *queueConsumer, m *mailbox.Message) {
	if m.Err != nil || m.Kind != wire.KindUser {
		s.deadLettered.Add(1)
		s.warn("shmactor: undecodable queued message dead-lettered", "queue", qc.q.name, "type", m.Type, "err", m.Err)
		return
	}
	env := &proto.MessageEnvelope{Message: m.Value, Header: map[string]string{ackMeta: "1"}}
	for k, v := range m.Meta {
		env.Header[k] = v
	}
	if m.SenderID != "" {
		env.Sender = proto.NewPID(m.SenderAddress, m.SenderID)
		env.Sender.RequestId = uint32(m.Corr)
	}
	proc, ok := s.ProcessRegistry.GetLocal(qc.pid.Id)
	if !ok {
		return // the consumer is gone; the registrar stops this pump
	}
	proc.SendUserMessage(qc.pid, env)
	for {
		select {
		case <-qc.ack:
			return
		case <-time.After(100 * time.Millisecond):
			if _, ok := s.ProcessRegistry.GetLocal(qc.pid.Id); !ok || s.closed.Load() {
				return
			}
		}
	}
}

type keepConsumer struct{ qc *queueConsumer }

// stopConsumer ends a consumer whose actor stopped.
func (s *System) stopConsumer(qc *queueConsumer) {
	qc.c.Close()
	q := qc.q
	q.mu.Lock()
	for i, c := range q.cons {
		if c == qc {
			q.cons = append(q.cons[:i], q.cons[i+1:]...)
			break
		}
	}
	q.mu.Unlock()
}

// queueProcess is the Process of a queue's PIDs: it sends to the queue's
// ring, sealed to the queue's key.
type queueProcess struct {
	sys  *System
	name string
}

var _ proto.Process = (*queueProcess)(nil)

func (p *queueProcess) SendUserMessage(pid *proto.PID, message any) {
	header, msg, sender := proto.UnwrapEnvelope(message)
	if err := p.send(msg, sender, header); err != nil {
		p.sys.undeliverable(pid, message, fmt.Errorf("queue %q: %w", p.name, err))
	}
}

func (p *queueProcess) send(msg any, sender *proto.PID, header proto.ReadonlyMessageHeader) error {
	q, err := p.sys.queue(p.name)
	if err != nil {
		return err
	}
	out := &mailbox.Outgoing{Kind: wire.KindUser, Target: p.name, Value: msg, Alone: true}
	if sender != nil {
		out.SenderAddress, out.SenderID, out.Corr = sender.Address, sender.Id, uint64(sender.RequestId)
	}
	if header != nil && header.Length() > 0 {
		out.Meta = header.ToMap()
	}
	return sendErr(p.sys.mb.Post(q.id, out))
}

func (p *queueProcess) SendSystemMessage(pid *proto.PID, message any) {
	if w, ok := message.(*proto.Watch); ok {
		// A queue never terminates while the namespace lives; watching it
		// is allowed and never fires.
		_ = w
		return
	}
}

func (p *queueProcess) Stop(pid *proto.PID) {}

// closeQueues stops this node's consumers and wipes the queue keys it
// holds; a queue whose last holder this node was is removed.
func (s *System) closeQueues() {
	s.qmu.Lock()
	qs := s.queues
	s.queues = map[string]*queue{}
	s.qmu.Unlock()
	for _, q := range qs {
		q.join.Lock() // wait for a join in progress
		q.mu.Lock()
		cons := q.cons
		q.cons = nil
		q.mu.Unlock()
		for _, qc := range cons {
			qc.c.Close()
		}
		if q.ready.Load() {
			err := s.withQueueLock(func() error {
				if err := s.reg.Unsubscribe(holderPrefix + q.name); err != nil {
					return err
				}
				if len(s.otherHolders(q)) > 0 {
					return nil
				}
				for _, f := range []string{q.key, q.ring} {
					if err := s.reg.Dir().Remove(f); err != nil && !errors.Is(err, shm.ErrNotFound) {
						return err
					}
				}
				return nil
			})
			if err != nil {
				s.warn("shmactor: leaving queue", "queue", q.name, "err", err)
			}
		}
		q.mu.Lock()
		if q.sealer != nil {
			q.sealer.Close()
			q.keys.Wipe()
			q.sealer, q.keys = nil, nil
		}
		q.mu.Unlock()
		q.join.Unlock()
	}
	s.qlockMu.Lock()
	s.qmu.Lock()
	if s.qlock != nil {
		s.qlock.Close()
		s.qlock = nil
	}
	s.qmu.Unlock()
	s.qlockMu.Unlock()
}
