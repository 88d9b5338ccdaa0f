package seal

import (
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/chacha20poly1305"
)

// nonces holds nonce buffers: passed to an AEAD through its interface, a
// nonce on the stack would escape, an allocation per envelope.
var nonces = sync.Pool{New: func() any { return new([chacha20poly1305.NonceSize]byte) }}

// TagSize is what sealing adds to an envelope: a sealed envelope is
// header || ciphertext || tag. The nonce is not sent: it is the
// envelope's sequence number, which the header carries.
const TagSize = chacha20poly1305.Overhead // 16

// Config configures a Sealer.
type Config struct {
	// Namespace is bound into every key, so envelopes cannot cross
	// namespaces.
	Namespace string
	// Node is this node's id.
	Node uint64
	// Keys is this node's key pair; nil makes a new one (epoch 1).
	Keys *KeyPair
	// Identity, if set, certifies this node's key (see Self).
	Identity *Identity
	// Trust, if set, admits only peers certified by its identities.
	Trust *TrustStore
	// Plaintext turns sealing off: same framing and sequence numbers, no
	// encryption, no authentication. Never the default.
	Plaintext bool
	// NoAES makes this node offer only ChaCha20-Poly1305, even on a CPU
	// with AES instructions (HardwareAES); by default a pair of nodes that
	// both have them seals with AES-256-GCM.
	NoAES bool
	// OpenOnly makes a Sealer that opens envelopes and never seals: for a
	// key pair that several nodes hold (a work queue's), whose sealing
	// counters could not be kept apart.
	OpenOnly bool
}

// Peer is what a node publishes about itself for others to seal to it.
type Peer struct {
	Node   uint64
	Public [KeySize]byte
	Epoch  uint32
	Cert   *Cert // nil without an identity
	// AES says the node offers AES-256-GCM (its CPU has AES
	// instructions): a pair seals with it when both nodes offer it.
	AES bool
	// Vouched says the caller holds the peer's key pair itself (a work
	// queue's): the trust store is not consulted for it.
	Vouched bool
}

// Meta is what Open needs from the envelope's (already decoded) header.
type Meta struct {
	From, To uint64
	Epoch    uint32
	Seq      uint64
	Sealed   bool // the header's sealed flag
}

// Sealer seals envelopes to peers and opens envelopes from them. It is
// safe for concurrent use.
type Sealer struct {
	ns        string
	me        uint64
	keys      *KeyPair
	self      Peer
	trust     *TrustStore
	plaintext bool
	openOnly  bool

	mu      sync.RWMutex
	peers   map[uint64]*peer
	retired map[uint64]uint64 // last sequence number given to removed peers
	closed  atomic.Bool
}

type peer struct {
	Peer
	suite            Suite
	send, recv       cipher.AEAD
	sendKey, recvKey [KeySize]byte
	seq              atomic.Uint64 // last sequence number handed out
	sealed           atomic.Uint64 // last sequence number sealed
	mu               sync.Mutex
	win              window
}

// New returns a Sealer for one node.
func New(cfg Config) (*Sealer, error) {
	keys := cfg.Keys
	if keys == nil {
		var err error
		if keys, err = NewKeyPair(1); err != nil {
			return nil, err
		}
	}
	s := &Sealer{ns: cfg.Namespace, me: cfg.Node, keys: keys, trust: cfg.Trust, plaintext: cfg.Plaintext, openOnly: cfg.OpenOnly, peers: map[uint64]*peer{}, retired: map[uint64]uint64{}}
	s.self = Peer{Node: cfg.Node, Public: keys.Public, Epoch: keys.Epoch, AES: HardwareAES && !cfg.NoAES}
	if cfg.Identity != nil {
		c := cfg.Identity.Certify(cfg.Namespace, cfg.Node, keys.Epoch, keys.Public)
		s.self.Cert = &c
	}
	return s, nil
}

// Self returns this node's public key, epoch and certificate, for others'
// AddPeer.
func (s *Sealer) Self() Peer { return s.self }

// Plaintext reports whether sealing is off.
func (s *Sealer) Plaintext() bool { return s.plaintext }

// Overhead is how many bytes sealing adds to a payload.
func (s *Sealer) Overhead() int {
	if s.plaintext {
		return 0
	}
	return TagSize
}

// AddPeer makes a peer known, deriving the pairwise keys. With a trust
// store, the peer's key must carry a certificate from a trusted identity
// (ErrUntrusted otherwise). Adding a peer again with the same key is
// harmless; with a new key or epoch it replaces the old keys and windows.
func (s *Sealer) AddPeer(p Peer) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.trust != nil && !p.Vouched {
		if err := s.trust.Verify(s.ns, p.Node, p.Epoch, p.Public, p.Cert); err != nil {
			return err
		}
	}
	// One critical section from the check to the insert: two goroutines
	// adding the same new peer must not both create it, or the second
	// would reset sequence numbers the first has handed out. Peers join
	// rarely; holding the lock for the key derivation is cheap.
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.peers[p.Node]
	if old != nil && old.Public == p.Public && old.Epoch == p.Epoch && old.AES == p.AES {
		return nil
	}
	np := &peer{Peer: p}
	// Sequence numbers to a node only ever grow, across re-keying and
	// re-adding: with the same key, a number used twice would be a nonce
	// used twice.
	last := s.retired[p.Node]
	if old != nil {
		last = old.seq.Load()
	}
	np.seq.Store(last)
	np.sealed.Store(last)
	delete(s.retired, p.Node)
	if !s.plaintext {
		var err error
		np.suite = pairSuite(s.self.AES, p.AES)
		if np.sendKey, np.recvKey, err = pairKeys(s.ns, np.suite, s.me, s.keys, p.Node, &p.Public, p.Epoch); err != nil {
			return err
		}
		if np.send, err = newAEAD(np.suite, np.sendKey[:]); err != nil {
			return err
		}
		if np.recv, err = newAEAD(np.suite, np.recvKey[:]); err != nil {
			return err
		}
	}
	if old != nil {
		old.wipe()
	}
	s.peers[p.Node] = np
	return nil
}

// RemovePeer forgets a peer and wipes its keys.
func (s *Sealer) RemovePeer(node uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.peers[node]; p != nil {
		p.wipe()
		s.retired[node] = p.seq.Load()
		delete(s.peers, node)
	}
}

// SuiteOf returns the AEAD that seals to and from node, and whether node
// is known.
func (s *Sealer) SuiteOf(node uint64) (Suite, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if p := s.peers[node]; p != nil {
		return p.suite, true
	}
	return 0, false
}

// HasPeer reports whether node is known.
func (s *Sealer) HasPeer(node uint64) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.peers[node] != nil
}

// wipe clears our copies of the peer's keys. The AEAD objects stay valid
// for calls already holding the peer; the peer is unreachable afterwards.
func (p *peer) wipe() {
	clear(p.sendKey[:])
	clear(p.recvKey[:])
}

func (s *Sealer) peer(node uint64) (*peer, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	s.mu.RLock()
	p := s.peers[node]
	s.mu.RUnlock()
	if p == nil {
		return nil, fmt.Errorf("%w: node %x", ErrUnknownPeer, node)
	}
	return p, nil
}

// Next returns the sequence number and key epoch for the next envelope to
// node; they go into its header before Seal.
func (s *Sealer) Next(to uint64) (seq uint64, epoch uint32, err error) {
	if s.openOnly {
		return 0, 0, ErrOpenOnly
	}
	p, err := s.peer(to)
	if err != nil {
		return 0, 0, err
	}
	return p.seq.Add(1), s.keys.Epoch, nil
}

// Seal seals an envelope in place. frame holds the encoded header
// (frame[:hdrLen]) then the payload; seq is the sequence number from Next
// that the header carries. Seal encrypts the payload under the
// sender→receiver key with the pair's AEAD, the nonce being seq, and
// appends the tag, reusing frame's storage when its capacity allows. The
// header, unencrypted, is authenticated as associated data. Envelopes to
// one node must be sealed in sequence order: Seal refuses a seq that is
// not above the last it sealed to that node (ErrSeqOrder), so a nonce
// never repeats under a key. In plaintext mode frame is returned as it
// is.
func (s *Sealer) Seal(frame []byte, hdrLen int, to, seq uint64) ([]byte, error) {
	if hdrLen < 0 || hdrLen > len(frame) {
		return nil, fmt.Errorf("seal: header of %d bytes in a %d-byte frame", hdrLen, len(frame))
	}
	return s.seal(frame[:hdrLen], frame[hdrLen:], true, to, seq)
}

// SealAppend is Seal for a payload that lies elsewhere: it appends the
// payload, sealed, to hdr (the encoded header) and returns the frame,
// reusing hdr's storage when its capacity allows. Sealing reads the
// payload and writes the ciphertext in one pass, where copying the
// payload behind the header and sealing it in place takes two. payload
// must not overlap hdr's spare capacity.
func (s *Sealer) SealAppend(hdr, payload []byte, to, seq uint64) ([]byte, error) {
	return s.seal(hdr, payload, false, to, seq)
}

// seal seals payload behind hdr; inPlace says payload follows hdr in
// one slice.
func (s *Sealer) seal(hdr, payload []byte, inPlace bool, to, seq uint64) ([]byte, error) {
	if s.openOnly {
		return nil, ErrOpenOnly
	}
	if s.plaintext {
		if s.closed.Load() {
			return nil, ErrClosed
		}
		if inPlace {
			return hdr[:len(hdr)+len(payload)], nil
		}
		return append(hdr, payload...), nil
	}
	p, err := s.peer(to)
	if err != nil {
		return nil, err
	}
	for {
		last := p.sealed.Load()
		if seq <= last || seq > p.seq.Load() {
			return nil, fmt.Errorf("%w: seq %d to node %x, last sealed %d, last handed out %d", ErrSeqOrder, seq, to, last, p.seq.Load())
		}
		if p.sealed.CompareAndSwap(last, seq) {
			break
		}
	}
	nonce := nonces.Get().(*[chacha20poly1305.NonceSize]byte)
	defer nonces.Put(nonce)
	binary.BigEndian.PutUint64(nonce[4:], seq)
	hl := len(hdr)
	if inPlace {
		frame := slices.Grow(hdr[:hl+len(payload)], TagSize) // a no-op when the caller left room
		body := frame[hl:]
		p.send.Seal(body[:0], nonce[:], body, frame[:hl])
		return frame[:hl+len(payload)+TagSize], nil
	}
	frame := slices.Grow(hdr, len(payload)+TagSize)
	p.send.Seal(frame[hl:hl], nonce[:], payload, frame[:hl]) // output right behind the header, apart from it
	return frame[:hl+len(payload)+TagSize], nil
}

// Open verifies and decrypts a sealed envelope in place and returns its
// payload (a slice of frame). It refuses an envelope addressed to another
// node, of the wrong mode, from an unknown peer or epoch, altered in any
// bit, or replayed. In plaintext mode it checks only the addressing and
// the sequence number.
func (s *Sealer) Open(frame []byte, hdrLen int, m Meta) ([]byte, error) {
	fail := func(err error) ([]byte, error) {
		return nil, fmt.Errorf("seal: open envelope from node %x seq %d: %w", m.From, m.Seq, err)
	}
	if m.To != s.me {
		return fail(fmt.Errorf("%w: it is for node %x, we are %x", ErrWrongReceiver, m.To, s.me))
	}
	if m.Sealed == s.plaintext {
		return fail(fmt.Errorf("%w: envelope sealed=%v, this node plaintext=%v", ErrMode, m.Sealed, s.plaintext))
	}
	p, err := s.peer(m.From)
	if err != nil {
		return fail(err)
	}
	if m.Epoch != p.Epoch {
		return fail(fmt.Errorf("%w: envelope epoch %d, peer's is %d", ErrEpoch, m.Epoch, p.Epoch))
	}
	var payload []byte
	if s.plaintext {
		payload = frame[hdrLen:]
	} else {
		if hdrLen < 0 || len(frame) < hdrLen+TagSize {
			return fail(fmt.Errorf("%w: %d bytes after a %d-byte header", ErrShort, len(frame)-hdrLen, hdrLen))
		}
		nonce := nonces.Get().(*[chacha20poly1305.NonceSize]byte)
		binary.BigEndian.PutUint64(nonce[4:], m.Seq)
		body := frame[hdrLen:]
		payload, err = p.recv.Open(body[:0], nonce[:], body, frame[:hdrLen])
		nonces.Put(nonce)
		if err != nil {
			return fail(ErrAuth)
		}
	}
	// The window is consulted only for authentic envelopes (a forged one
	// must not move it), and check and accept happen under one lock, so
	// two copies of one envelope opened at once are not both accepted.
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.win.check(m.Seq) {
		return fail(ErrReplay)
	}
	p.win.accept(m.Seq)
	return payload, nil
}

// Close wipes this node's private key and every pairwise key the Sealer
// holds, and makes further calls fail with ErrClosed. (The AEAD objects of
// golang.org/x/crypto keep their own copy of each key, which Go gives no
// way to clear; Close drops them for the garbage collector.)
func (s *Sealer) Close() {
	if !s.closed.CompareAndSwap(false, true) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.peers {
		p.wipe()
	}
	s.peers = map[uint64]*peer{}
	s.keys.Wipe()
}
