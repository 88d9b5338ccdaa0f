package mailbox

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmactor/shmactor/internal/seal"
	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/shm"
)

// Out-of-line messages. An envelope too large for the receiver's inbox
// goes into a segment, "ool.<random>.<sender>-<receiver>", and the inbox
// carries a small envelope with the same header, flagged FlagOutOfLine,
// whose payload is a wire.Ref to the segment. The segment is named for
// its receiver, so the registry reaps it with the receiver, and it
// survives its sender's Close (the message is sent). When the System
// seals, the envelope is sealed in 1 MiB chunks with a key drawn for the
// message alone, which travels in the sealed reference; the chunks are
// sealed and opened on every CPU at once.
//
// Segments are reused: the receiver marks a segment taken once it has
// read it (and keeps it mapped, for the next message in it), and the
// sender fills a taken segment of the right size again rather than make
// a new one, so that a stream of large messages touches warm pages and
// makes no system call per message. A sender keeps a bounded pool of
// taken segments per receiver.
//
// Segment body: [u64 envelope length][u64 chunk size][u32 state][pad to
// 32][chunks], each chunk its bytes plus a 16-byte tag when sealed (the
// last one shorter). The state is oolFree (the sender fills it), oolSent
// (the receiver may read it) or oolTaken (read: the sender may reuse it).

// KindOutOfLine marks a segment holding an out-of-line envelope.
const KindOutOfLine = shm.KindUser + 1

const (
	oolPrefix = "ool."
	oolHeader = 32
	oolState  = 16
	// oolChunk is the sealed chunk's size: large enough that the tag and
	// the per-chunk call cost nothing, small enough to share out among
	// CPUs.
	oolChunk = 1 << 20
	// DefaultOutOfLineQuota bounds the bytes of out-of-line segments a
	// node has made and not removed.
	DefaultOutOfLineQuota = 4 << 30
	// oolKeepMapped is how many segments a receiver keeps mapped.
	oolKeepMapped = 32
	// oolWindow is how many bytes out of line a sender lets a receiver
	// be behind (or two messages' worth, if more): past it, sends wait
	// as for room in a full inbox.
	oolWindow = 64 << 20
)

// Segment states.
const (
	oolFree  = 0
	oolSent  = 1
	oolTaken = 2
)

// ErrQuota is returned for a message that would take the node's
// out-of-line segments past its quota (Config.OutOfLineQuota): at once
// with DropNewest and FailFast, after the send deadline with Block.
var ErrQuota = errors.New("mailbox: out-of-line quota exceeded")

// outOfLine is a node's bookkeeping of the segments it made: those whose
// messages are on their way, and those taken and kept for reuse.
type outOfLine struct {
	mu     sync.Mutex
	quota  int64
	used   int64 // bytes of every segment made and not removed
	pooled int64 // bytes of the taken ones kept for reuse
	sent   map[string]*oolSeg
	pool   map[uint64][]*oolSeg // by receiver
}

type oolSeg struct {
	seg   *shm.Segment
	state shm.Word32
	node  uint64
	size  int64 // the body's size (0 for a blob's: blobs are charged while they are filled)
	blob  bool  // a blob's: unmapped once taken, never reused
	// blobSealed: a sealed blob's segment (not the sender's view of it).
	blobSealed bool
}

func (s *oolSeg) close() { s.seg.Close() }

// load reads the segment's state, an error if the file was cut short
// under the mapping (the receiver, or anyone with write access to the
// namespace, can).
func (s *oolSeg) load() (st uint32, err error) {
	err = s.seg.Do(func() error {
		st = s.state.Load()
		return nil
	})
	return st, err
}

// reclaimBlobs unmaps the sender's views of the blobs their receivers
// have taken: a new blob's allocation pays for it, not a send.
// A receiver takes a blob by removing its name.
func (o *outOfLine) reclaimBlobs(d *shm.Dir) {
	o.mu.Lock()
	blobs := 0
	for _, s := range o.sent {
		if s.blob {
			blobs++
		}
	}
	if blobs == 0 {
		o.mu.Unlock()
		return
	}
	names, err := d.List()
	if err != nil {
		o.mu.Unlock()
		return
	}
	there := make(map[string]bool, len(names))
	for _, n := range names {
		there[n] = true
	}
	var done []*oolSeg
	for n, s := range o.sent {
		if s.blob && !there[n] {
			delete(o.sent, n)
			done = append(done, s)
		}
	}
	o.mu.Unlock()
	for _, s := range done {
		s.close()
	}
}

// take returns a segment for a message of size body bytes to node: a
// taken one of about that size, or a new one, within the quota. With
// Block it waits up to timeout for receivers to take what they were
// sent.
func (o *outOfLine) take(d *shm.Dir, self, node uint64, body int64, policy Policy, timeout time.Duration) (*oolSeg, error) {
	if body > o.quota {
		return nil, fmt.Errorf("%w: a %d-byte message to node %016x, quota %d bytes", ErrQuota, body, node, o.quota)
	}
	deadline := time.Now().Add(timeout)
	for wait := 20 * time.Microsecond; ; wait = min(2*wait, 10*time.Millisecond) {
		o.mu.Lock()
		o.reclaim()
		if ahead := o.ahead(node); ahead > 0 && ahead+body > max(oolWindow, 2*body) {
			// The receiver is behind: wait for it to take what it has,
			// and fill a segment it took, rather than make more.
			o.mu.Unlock()
			if policy != Block || time.Now().After(deadline) {
				if policy == DropNewest {
					return nil, fmt.Errorf("%w (node %016x: %d bytes out of line not yet taken)", ErrDropped, node, ahead)
				}
				return nil, fmt.Errorf("%w (node %016x: %d bytes out of line not yet taken)", ErrFull, node, ahead)
			}
			time.Sleep(wait)
			continue
		}
		if s := o.reuse(node, body); s != nil {
			o.mu.Unlock()
			return s, nil
		}
		for o.used+body > o.quota && o.evictOne() {
		}
		if o.used+body > o.quota {
			o.lost(d)
		}
		if o.used+body <= o.quota {
			o.used += body
			o.mu.Unlock()
			s, err := newOOLSeg(d, self, node, body)
			o.mu.Lock()
			if err != nil {
				o.used -= body
			} else {
				o.used += s.size - body // the body is rounded up to pages
			}
			o.mu.Unlock()
			return s, err
		}
		used := o.used
		o.mu.Unlock()
		if policy != Block || time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: %d bytes not yet taken by their receivers, a %d-byte message to node %016x, quota %d bytes", ErrQuota, used, body, node, o.quota)
		}
		time.Sleep(wait)
	}
}

func newOOLSeg(d *shm.Dir, self, node uint64, body int64) (*oolSeg, error) {
	name, err := oolName(self, node)
	if err != nil {
		return nil, err
	}
	seg, err := d.CreateSegment(name, KindOutOfLine, int(body), nil)
	if err != nil {
		return nil, err
	}
	st, err := seg.Word32(oolState)
	if err != nil {
		seg.Unlink()
		seg.Close()
		return nil, err
	}
	return &oolSeg{seg: seg, state: st, node: node, size: int64(len(seg.Body()))}, nil
}

// ahead returns the bytes on their way to node; o.mu is held.
func (o *outOfLine) ahead(node uint64) int64 {
	var n int64
	for _, s := range o.sent {
		if s.node == node {
			n += s.size
		}
	}
	return n
}

// reclaim moves the segments their receivers have taken to the pool;
// o.mu is held.
func (o *outOfLine) reclaim() {
	for n, s := range o.sent {
		st, err := s.load()
		if err != nil {
			// Cut short under us: nobody can read it now.
			delete(o.sent, n)
			o.drop(s)
			continue
		}
		if st != oolTaken {
			continue
		}
		delete(o.sent, n)
		if s.blob {
			continue // reclaimBlobs
		}
		o.pool[s.node] = append(o.pool[s.node], s)
		o.pooled += s.size
	}
}

// charge counts a blob being filled against the quota; uncharge gives
// it back.
func (o *outOfLine) charge(size int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.used+size > o.quota && o.evictOne() {
	}
	if o.used+size > o.quota {
		return fmt.Errorf("%w: %d bytes in use, a blob of %d bytes, quota %d bytes", ErrQuota, o.used, size, o.quota)
	}
	o.used += size
	return nil
}

func (o *outOfLine) uncharge(size int64) {
	o.mu.Lock()
	o.used -= size
	o.mu.Unlock()
}

// sentBlob records a blob's segment on its way.
func (o *outOfLine) sentBlob(s *oolSeg) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent[s.seg.Name()] = s
}

// reuse takes from the pool a segment for node whose body holds body
// bytes and is at most twice as large (plus 1 MiB); o.mu is held.
func (o *outOfLine) reuse(node uint64, body int64) *oolSeg {
	p := o.pool[node]
	best := -1
	for i, s := range p {
		if s.size >= body && s.size <= 2*body+oolChunk && (best < 0 || s.size < p[best].size) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	s := p[best]
	p[best] = p[len(p)-1]
	o.pool[node] = p[:len(p)-1]
	o.pooled -= s.size
	return s
}

// evictOne removes the largest pooled segment; o.mu is held. It reports
// false when the pool is empty.
func (o *outOfLine) evictOne() bool {
	var bestNode uint64
	var best *oolSeg
	at := -1
	for n, p := range o.pool {
		for i, s := range p {
			if best == nil || s.size > best.size {
				bestNode, best, at = n, s, i
			}
		}
	}
	if best == nil {
		return false
	}
	p := o.pool[bestNode]
	p[at] = p[len(p)-1]
	o.pool[bestNode] = p[:len(p)-1]
	o.pooled -= best.size
	o.drop(best)
	return true
}

// lost forgets the segments on their way whose files are gone (a
// receiver removed one it could not read); o.mu is held.
func (o *outOfLine) lost(d *shm.Dir) {
	names, err := d.List()
	if err != nil {
		return
	}
	there := make(map[string]bool, len(names))
	for _, n := range names {
		there[n] = true
	}
	for n, s := range o.sent {
		if !there[n] {
			delete(o.sent, n)
			o.drop(s)
		}
	}
}

// drop removes a segment; o.mu is held.
func (o *outOfLine) drop(s *oolSeg) {
	s.seg.Unlink()
	s.close()
	o.used -= s.size
}

// sentSeg records a segment whose message is on its way, and trims the
// pool to an eighth of the quota.
func (o *outOfLine) sentSeg(s *oolSeg) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent[s.seg.Name()] = s
	for o.pooled > o.quota/8 && o.evictOne() {
	}
}

// unsent removes a segment recorded on its way whose reference never
// reached the inbox: nobody will take it. (Gone may have removed it
// meanwhile.)
func (o *outOfLine) unsent(s *oolSeg) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.sent[s.seg.Name()] == s {
		delete(o.sent, s.seg.Name())
		o.drop(s)
	}
}

// release gives back a segment that carried nothing.
func (o *outOfLine) release(s *oolSeg) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.drop(s)
}

// gone removes the segments made for a node that is gone: nobody will
// take them.
func (o *outOfLine) gone(node uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for n, s := range o.sent {
		if s.node == node {
			delete(o.sent, n)
			o.drop(s)
		}
	}
	for _, s := range o.pool[node] {
		o.pooled -= s.size
		o.drop(s)
	}
	delete(o.pool, node)
}

// close removes the pooled segments and unmaps those on their way, which
// stay for their receivers to read.
func (o *outOfLine) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reclaim()
	for node, p := range o.pool {
		for _, s := range p {
			o.drop(s)
		}
		delete(o.pool, node)
	}
	for n, s := range o.sent {
		s.close()
		delete(o.sent, n)
	}
	o.pooled = 0
}

// sweepFrom removes the segments node made for this one: called once
// this node's inbox has handed on everything node sent before it went,
// so nothing will refer to them again.
func (mb *Mailboxes) sweepFrom(node uint64) {
	mb.in.forget(node)
	names, err := mb.cfg.Dir.List()
	if err != nil {
		return
	}
	for _, n := range names {
		on := n
		if rest, ok := strings.CutPrefix(n, blobPrefix); ok {
			on = oolPrefix + rest
		}
		if from, to, ok := parseOOLName(on); ok && from == node && to == mb.cfg.Self {
			mb.cfg.Dir.Remove(n)
		}
	}
}

// oolName returns a new segment name for a message from self to node.
func oolName(self, node uint64) (string, error) {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%x.%016x-%016x", oolPrefix, r, self, node), nil
}

// parseOOLName returns the sender and receiver a segment name gives.
func parseOOLName(name string) (from, to uint64, ok bool) {
	rest, ok := strings.CutPrefix(name, oolPrefix)
	if !ok {
		return 0, 0, false
	}
	_, ids, ok := strings.Cut(rest, ".")
	if !ok || len(ids) != 33 || ids[16] != '-' {
		return 0, 0, false
	}
	from, err1 := strconv.ParseUint(ids[:16], 16, 64)
	to, err2 := strconv.ParseUint(ids[17:], 16, 64)
	return from, to, err1 == nil && err2 == nil
}

// chunks returns the number of chunks of an n-byte envelope.
func chunks(n, chunk int) int { return (n + chunk - 1) / chunk }

// chunkNonce is chunk i's nonce: its index, and whether it is the last,
// so that chunks can be neither reordered nor dropped from the end.
func chunkNonce(n *[12]byte, i, count int) []byte {
	*n = [12]byte{}
	if i == count-1 {
		n[0] = 1
	}
	binary.LittleEndian.PutUint64(n[4:], uint64(i))
	return n[:]
}

// parallel runs fn(i) for i in [0, n) on up to GOMAXPROCS goroutines.
func parallel(n int, fn func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || first.Load() != nil {
					return
				}
				if err := fn(i); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if e := first.Load(); e != nil {
		return *e
	}
	return nil
}

// outOfLine writes env (behind its 4-byte length) to a segment for p's
// node and returns the small envelope that refers to it, and the
// segment, recorded on its way: if the envelope does not reach the
// inbox, the caller gives it to unsent.
func (mb *Mailboxes) outOfLine(p *peer, env []byte, m *Outgoing, policy Policy) ([]byte, *oolSeg, error) {
	inner := env[4:]
	sealed := !mb.cfg.Sealer.Plaintext()
	chunk := len(inner)
	if sealed {
		chunk = oolChunk
	}
	n := chunks(len(inner), chunk)
	body := oolHeader + len(inner)
	if sealed {
		body += n * seal.TagSize
	}
	s, err := mb.ool.take(mb.cfg.Dir, mb.cfg.Self, p.node, int64(body), policy, mb.cfg.Timeout)
	if errors.Is(err, ErrQuota) {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("mailbox: out-of-line message to node %016x: %w", p.node, err)
	}
	ref := wire.Ref{Segment: s.seg.Name(), Len: uint64(len(inner))}
	var aead cipher.AEAD
	if sealed {
		ref.Key = make([]byte, seal.KeySize)
		if _, err = rand.Read(ref.Key); err == nil {
			ref.Suite, ref.Chunk = uint8(seal.LocalSuite()), uint64(chunk)
			aead, err = seal.NewAEAD(seal.LocalSuite(), ref.Key)
		}
		if err != nil {
			mb.ool.release(s)
			return nil, nil, err
		}
	}
	err = s.seg.Do(func() error {
		b := s.seg.Body()
		binary.LittleEndian.PutUint64(b, uint64(len(inner)))
		binary.LittleEndian.PutUint64(b[8:], ref.Chunk)
		out := b[oolHeader:]
		if !sealed {
			copy(out, inner)
		} else {
			parallel(n, func(i int) error {
				src := inner[i*chunk : min((i+1)*chunk, len(inner))]
				at := i * (chunk + seal.TagSize)
				var nonce [12]byte
				aead.Seal(out[at:at:at+len(src)+seal.TagSize], chunkNonce(&nonce, i, n), src, nil)
				return nil
			})
		}
		s.state.Store(oolSent)
		return nil
	})
	if err != nil {
		mb.ool.release(s)
		return nil, nil, fmt.Errorf("mailbox: out-of-line message to node %016x: %w", p.node, err)
	}
	mb.ool.sentSeg(s)
	tn, _ := mb.cfg.Types.NameOf(m.Value)
	h := wire.Header{Kind: m.Kind, Flags: wire.FlagOutOfLine, SenderAddress: m.SenderAddress, SenderID: m.SenderID, Target: m.Target, Corr: m.Corr, Type: tn}
	b := wire.AppendHeader(make([]byte, 4, 4+128+len(ref.Segment)+64), &h)
	b = wire.AppendRef(b, &ref)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b, s, nil
}

// oolMaps is a receiver's cache of the segments it has mapped, so that a
// sender's reused segment is not mapped again for every message.
type oolMaps struct {
	mu   sync.Mutex
	segs map[string]*shm.Segment
	lru  []string // oldest first
}

// segment returns the mapped segment name, mapping it if needed.
func (c *Consumer) segment(name string) (*shm.Segment, error) {
	m := &c.maps
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.segs[name]; s != nil {
		return s, nil
	}
	s, err := c.dir.OpenSegment(name, KindOutOfLine)
	if err != nil {
		return nil, err
	}
	if m.segs == nil {
		m.segs = map[string]*shm.Segment{}
	}
	if len(m.lru) >= oolKeepMapped {
		old := m.lru[0]
		m.lru = m.lru[1:]
		m.segs[old].Close()
		delete(m.segs, old)
	}
	m.segs[name] = s
	m.lru = append(m.lru, name)
	return s, nil
}

// unmap closes a mapped segment (one that failed, or whose sender left).
func (c *Consumer) unmap(name string) {
	m := &c.maps
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.segs[name]; s != nil {
		s.Close()
		delete(m.segs, name)
		for i, n := range m.lru {
			if n == name {
				m.lru = append(m.lru[:i], m.lru[i+1:]...)
				break
			}
		}
	}
}

// forget unmaps the segments of a sender that has left.
func (c *Consumer) forget(node uint64) {
	c.maps.mu.Lock()
	var names []string
	for n := range c.maps.segs {
		if from, _, _ := parseOOLName(n); from == node {
			names = append(names, n)
		}
	}
	c.maps.mu.Unlock()
	for _, n := range names {
		c.unmap(n)
	}
}

// closeMaps unmaps every cached segment.
func (c *Consumer) closeMaps() {
	c.maps.mu.Lock()
	defer c.maps.mu.Unlock()
	for n, s := range c.maps.segs {
		s.Close()
		delete(c.maps.segs, n)
	}
	c.maps.lru = nil
}

// fetch reads the envelope an out-of-line reference points to, from node
// from, and marks its segment taken. The segment must be one from that
// node to this one, holding a message sent and not yet taken; its
// lengths are checked against the reference and its size, and sealed
// chunks are copied out of shared memory before they are opened. A
// segment that fails a check is removed.
func (c *Consumer) fetch(from uint64, refBytes []byte) ([]byte, error) {
	if c.dir == nil {
		return nil, errors.New("out-of-line message on a work queue")
	}
	ref, err := wire.DecodeRef(refBytes)
	if err != nil {
		return nil, err
	}
	if f, t, ok := parseOOLName(ref.Segment); !ok || f != from || t != c.self {
		return nil, fmt.Errorf("out-of-line segment %q is not one from node %016x to node %016x", ref.Segment, from, c.self)
	}
	seg, err := c.segment(ref.Segment)
	if err != nil {
		return nil, err
	}
	out, err := c.read(seg, &ref)
	if err != nil {
		c.unmap(ref.Segment)
		c.dir.Remove(ref.Segment)
		return nil, err
	}
	return out, nil
}

// read copies (or opens) the envelope out of seg and marks seg taken.
func (c *Consumer) read(seg *shm.Segment, ref *wire.Ref) (out []byte, err error) {
	st, err := seg.Word32(oolState)
	if err != nil {
		return nil, err
	}
	err = seg.Do(func() error {
		if s := st.Load(); s != oolSent {
			return fmt.Errorf("out-of-line segment %s is in state %d, not sent", ref.Segment, s)
		}
		b := seg.Body()
		if len(b) < oolHeader {
			return fmt.Errorf("out-of-line segment %s: a %d-byte body, shorter than its header", ref.Segment, len(b))
		}
		n, chunk := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
		if n != ref.Len || chunk != ref.Chunk {
			return fmt.Errorf("out-of-line segment %s says %d bytes in chunks of %d, the reference %d in %d", ref.Segment, n, chunk, ref.Len, ref.Chunk)
		}
		data := b[oolHeader:]
		if len(ref.Key) == 0 {
			if c.sealer != nil && !c.sealer.Plaintext() {
				return fmt.Errorf("out-of-line segment %s is not sealed", ref.Segment)
			}
			if n > uint64(len(data)) {
				return fmt.Errorf("out-of-line segment %s: %d bytes in a %d-byte body", ref.Segment, n, len(data))
			}
			out = make([]byte, n)
			copy(out, data)
			return nil
		}
		if chunk == 0 || len(ref.Key) != seal.KeySize {
			return fmt.Errorf("out-of-line segment %s: chunks of %d bytes, a %d-byte key", ref.Segment, chunk, len(ref.Key))
		}
		count := chunks(int(min(n, uint64(len(data)))), int(chunk))
		if n == 0 || n+uint64(count)*seal.TagSize > uint64(len(data)) {
			return fmt.Errorf("out-of-line segment %s: %d bytes sealed in a %d-byte body", ref.Segment, n, len(data))
		}
		aead, err := seal.NewAEAD(seal.Suite(ref.Suite), ref.Key)
		if err != nil {
			return err
		}
		out = make([]byte, n)
		ch := int(chunk)
		return parallel(count, func(i int) error {
			return seg.Do(func() error {
				plain := out[i*ch : min((i+1)*ch, len(out))]
				at := i * (ch + seal.TagSize)
				sealed := make([]byte, len(plain)+seal.TagSize)
				copy(sealed, data[at:at+len(sealed)])
				var nonce [12]byte
				if _, err := aead.Open(plain[:0], chunkNonce(&nonce, i, count), sealed, nil); err != nil {
					return fmt.Errorf("out-of-line segment %s: chunk %d: %w", ref.Segment, i, seal.ErrAuth)
				}
				return nil
			})
		})
	})
	if err != nil {
		return nil, err
	}
	if err := seg.Do(func() error { st.Store(oolTaken); return nil }); err != nil {
		return nil, err
	}
	return out, nil
}
