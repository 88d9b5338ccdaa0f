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
// goes into a segment of its own, "ool.<random>.<sender>-<receiver>",
// and the inbox carries a small envelope with the same header, flagged
// FlagOutOfLine, whose payload is a wire.Ref to the segment. The segment
// is named for its receiver, so the registry reaps it with the receiver,
// and it survives its sender's Close (the message is sent). The receiver
// reads it, removes it, and hands on the message as if it had come in
// line. When the System seals, the envelope is sealed in 1 MiB chunks
// with a key drawn for the message alone, which travels in the sealed
// reference; the chunks are sealed and opened on every CPU at once.
//
// Segment body: [u64 envelope length][u64 chunk size][chunks], each
// chunk its bytes plus a 16-byte tag when sealed (the last one shorter).

// KindOutOfLine marks a segment holding an out-of-line envelope.
const KindOutOfLine = shm.KindUser + 1

const (
	oolPrefix = "ool."
	oolHeader = 16
	// oolChunk is the sealed chunk's size: large enough that the tag and
	// the per-chunk call cost nothing, small enough to share out among
	// CPUs.
	oolChunk = 1 << 20
	// DefaultOutOfLineQuota bounds the bytes of out-of-line segments a
	// node has made that their receivers have not yet taken.
	DefaultOutOfLineQuota = 4 << 30
)

// ErrQuota is returned for a message that would take the node's
// out-of-line segments past its quota (Config.OutOfLineQuota): at once
// with DropNewest and FailFast, after the send deadline with Block.
var ErrQuota = errors.New("mailbox: out-of-line quota exceeded")

// outOfLine is a node's bookkeeping of the segments it made.
type outOfLine struct {
	mu    sync.Mutex
	quota int64
	used  int64
	segs  map[string]oolSeg
}

type oolSeg struct {
	node uint64
	size int64
}

// reserve takes size bytes of the quota, reclaiming what receivers have
// taken when it runs short; with Block it waits up to timeout.
func (o *outOfLine) reserve(d *shm.Dir, size int64, policy Policy, timeout time.Duration) error {
	if size > o.quota {
		return fmt.Errorf("%w: a %d-byte message, quota %d bytes", ErrQuota, size, o.quota)
	}
	deadline := time.Now().Add(timeout)
	for wait := 100 * time.Microsecond; ; wait = min(2*wait, 10*time.Millisecond) {
		o.mu.Lock()
		if o.used+size > o.quota {
			o.reclaim(d)
		}
		if o.used+size <= o.quota {
			o.used += size
			o.mu.Unlock()
			return nil
		}
		used := o.used
		o.mu.Unlock()
		if policy != Block || time.Now().After(deadline) {
			return fmt.Errorf("%w: %d bytes not yet taken by their receivers, a %d-byte message, quota %d bytes", ErrQuota, used, size, o.quota)
		}
		time.Sleep(wait)
	}
}

// reclaim forgets the segments their receivers have removed; o.mu is
// held.
func (o *outOfLine) reclaim(d *shm.Dir) {
	names, err := d.List()
	if err != nil {
		return
	}
	there := make(map[string]bool, len(o.segs))
	for _, n := range names {
		if strings.HasPrefix(n, oolPrefix) {
			there[n] = true
		}
	}
	for n, s := range o.segs {
		if !there[n] {
			delete(o.segs, n)
			o.used -= s.size
		}
	}
}

// made records a segment; release gives back a reservation that made no
// segment.
func (o *outOfLine) made(name string, node uint64, size int64) {
	o.mu.Lock()
	o.segs[name] = oolSeg{node, size}
	o.mu.Unlock()
}

func (o *outOfLine) release(size int64) {
	o.mu.Lock()
	o.used -= size
	o.mu.Unlock()
}

// gone removes the segments made for a node that is gone: nobody will
// take them.
func (o *outOfLine) gone(d *shm.Dir, node uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for n, s := range o.segs {
		if s.node == node {
			d.Remove(n)
			delete(o.segs, n)
			o.used -= s.size
		}
	}
}

// sweepFrom removes the segments node made for this one that nobody
// will read: called once this node's inbox has handed on everything node
// sent before it went, it finds only segments whose references never
// made it into the inbox (node died between making one and sending it).
func (mb *Mailboxes) sweepFrom(node uint64) {
	names, err := mb.cfg.Dir.List()
	if err != nil {
		return
	}
	for _, n := range names {
		if from, to, ok := parseOOLName(n); ok && from == node && to == mb.cfg.Self {
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
// node and returns the small envelope that refers to it.
func (mb *Mailboxes) outOfLine(p *peer, env []byte, m *Outgoing, policy Policy) ([]byte, error) {
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
	if err := mb.ool.reserve(mb.cfg.Dir, int64(body), policy, mb.cfg.Timeout); err != nil {
		return nil, fmt.Errorf("%w (node %016x)", err, p.node)
	}
	name, err := oolName(mb.cfg.Self, p.node)
	if err != nil {
		mb.ool.release(int64(body))
		return nil, err
	}
	ref := wire.Ref{Segment: name, Len: uint64(len(inner))}
	var aead cipher.AEAD
	if sealed {
		ref.Key = make([]byte, seal.KeySize)
		if _, err := rand.Read(ref.Key); err != nil {
			mb.ool.release(int64(body))
			return nil, err
		}
		ref.Suite, ref.Chunk = uint8(seal.LocalSuite()), uint64(chunk)
		if aead, err = seal.NewAEAD(seal.LocalSuite(), ref.Key); err != nil {
			mb.ool.release(int64(body))
			return nil, err
		}
	}
	seg, err := mb.cfg.Dir.CreateSegment(name, KindOutOfLine, body, func(b []byte) error {
		binary.LittleEndian.PutUint64(b, uint64(len(inner)))
		binary.LittleEndian.PutUint64(b[8:], ref.Chunk)
		out := b[oolHeader:]
		if !sealed {
			copy(out, inner)
			return nil
		}
		return parallel(n, func(i int) error {
			src := inner[i*chunk : min((i+1)*chunk, len(inner))]
			at := i * (chunk + seal.TagSize)
			var nonce [12]byte
			aead.Seal(out[at:at:at+len(src)+seal.TagSize], chunkNonce(&nonce, i, n), src, nil)
			return nil
		})
	})
	if err != nil {
		mb.ool.release(int64(body))
		return nil, fmt.Errorf("mailbox: out-of-line message to node %016x: %w", p.node, err)
	}
	seg.Close()
	mb.ool.made(name, p.node, int64(body))
	tn, _ := mb.cfg.Types.NameOf(m.Value)
	h := wire.Header{Kind: m.Kind, Flags: wire.FlagOutOfLine, SenderAddress: m.SenderAddress, SenderID: m.SenderID, Target: m.Target, Corr: m.Corr, Type: tn}
	b := wire.AppendHeader(make([]byte, 4, 4+128+len(name)+64), &h)
	b = wire.AppendRef(b, &ref)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b, nil
}

// fetch reads the envelope an out-of-line reference points to, from node
// from, and removes its segment. The segment must be one from that node
// to this one; its lengths are checked against the reference and its
// size, and sealed chunks are copied out of shared memory before they
// are opened.
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
	seg, err := c.dir.OpenSegment(ref.Segment, KindOutOfLine)
	if err != nil {
		return nil, err
	}
	defer func() {
		seg.Close()
		c.dir.Remove(ref.Segment)
	}()
	var out []byte
	err = seg.Do(func() error {
		b := seg.Body()
		if len(b) < oolHeader {
			return fmt.Errorf("out-of-line segment %s: %d-byte body", ref.Segment, len(b))
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
	return out, nil
}
