package mailbox

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/shmactor/shmactor/internal/seal"
	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/shm"
)

// Blobs. A Blob is a buffer for bulk bytes that crosses to another
// process without being encoded or copied by the caller's code.
//
// Plaintext: the buffer is a segment of its own, "blob.<random>-<node>".
// Send renames it for its receiver ("blob.<random>.<sender>-<receiver>",
// so that the registry reaps it with the receiver) and makes the
// sender's view read-only; the receiver maps the same pages read-only,
// removes the name, which tells the sender it is taken, and the sender
// then unmaps its view. Nothing is copied: a 1 GiB blob is handed over in the time of a
// message.
//
// Sealed: the buffer is private memory of the sender's process (no
// plaintext ever lies in shared memory). Send seals it, in 1 MiB chunks
// on every CPU, into a segment for the receiver, with a key drawn for
// the blob that travels in the sealed reference; the receiver opens the
// chunks into private memory of its own, read-only. One pass of the
// cipher on each side, no other copy.
//
// Segment body: [u64 length][u64 chunk][u32 state][pad], the bytes from
// the first page boundary (plaintext), or the sealed chunks, each with
// its tag, from byte 32 (sealed).

// KindBlob marks a segment holding a blob.
const KindBlob = shm.KindUser + 2

const blobPrefix = "blob."

// Errors of blobs.
var (
	// ErrBlobSent is returned by a Blob's methods, and by a send of it,
	// once it has been sent: it belongs to its receiver.
	ErrBlobSent = errors.New("mailbox: blob already sent")
	// ErrBlobReleased is returned by a Blob's methods after Release.
	ErrBlobReleased = errors.New("mailbox: blob released")
)

// BlobTypeName is the registered name under which blobs travel.
const BlobTypeName = "shmactor.Blob"

type blobState int

const (
	blobFilling  blobState = iota // the sender's, not yet sent
	blobSent                      // sent: its receiver's
	blobReceived                  // the receiver's view
	blobReleased
)

// Blob is a buffer of bulk bytes that crosses processes without a copy
// (plaintext) or with one pass of the cipher on each side (sealed). Fill
// Bytes, then send the Blob as a message; the receiver gets a Blob whose
// Bytes are a read-only view, valid until it calls Release. A Blob is
// safe for concurrent use.
//
// Ownership: a Blob belongs to one process at a time. Once sent it is
// its receiver's: the sender's Bytes returns nil, its methods fail with
// ErrBlobSent, and a slice taken from Bytes before must not be used (in
// a plaintext System its pages are made read-only at the send, so a
// write faults rather than change what the receiver sees). A send that
// fails leaves the Blob the sender's, unsent, to send again or release.
// After Release, Bytes returns nil and slices taken before must not be
// used.
type Blob struct {
	mu    sync.Mutex
	mb    *Mailboxes
	state blobState
	n     int
	seg   *shm.Segment // plaintext: the blob's segment
	priv  *shm.Private // sealed: the bytes
	data  []byte
}

// blobDataOff is where a plaintext blob's bytes start in its body.
func blobDataOff() int { return shm.BodyPageOffset(32) }

// NewBlob returns a blob of size bytes (at least 1), zeroed, for this
// node to fill and send. It counts against the out-of-line quota until
// it is sent or released (ErrQuota).
func (mb *Mailboxes) NewBlob(size int) (*Blob, error) {
	if mb.closed.Load() {
		return nil, ErrClosed
	}
	if size <= 0 || uint64(size) > uint64(shm.MaxSegmentSize)/2 {
		return nil, fmt.Errorf("%w: a blob of %d bytes (1 to %d)", ErrInvalidArgument, size, uint64(shm.MaxSegmentSize)/2)
	}
	mb.ool.reclaimBlobs(mb.cfg.Dir)
	if err := mb.ool.charge(int64(size)); err != nil {
		return nil, err
	}
	b := &Blob{mb: mb, n: size}
	var err error
	if mb.cfg.Sealer.Plaintext() {
		var name string
		if name, err = blobName(mb.cfg.Self); err == nil {
			b.seg, err = mb.cfg.Dir.CreateSegment(name, KindBlob, blobDataOff()+size, nil)
		}
		if err == nil {
			b.data = b.seg.Body()[blobDataOff() : blobDataOff()+size : blobDataOff()+size]
		}
	} else if b.priv, err = shm.MapPrivate(size); err == nil {
		b.data = b.priv.Bytes()
	}
	if err != nil {
		mb.ool.uncharge(int64(size))
		return nil, fmt.Errorf("mailbox: new blob of %d bytes: %w", size, err)
	}
	return b, nil
}

func blobName(self uint64) (string, error) {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%x-%016x", blobPrefix, r, self), nil
}

// Bytes returns the blob's bytes: writable while the sender fills it,
// a read-only view for its receiver; nil once sent or released.
func (b *Blob) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == blobSent || b.state == blobReleased {
		return nil
	}
	return b.data
}

// Len returns the blob's size in bytes.
func (b *Blob) Len() int { return b.n }

// Release gives the blob's memory back: the receiver's view is unmapped,
// and a blob never sent is removed. It fails with ErrBlobSent for a blob
// sent, and ErrBlobReleased the second time.
func (b *Blob) Release() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case blobSent:
		return ErrBlobSent
	case blobReleased:
		return ErrBlobReleased
	}
	filling := b.state == blobFilling
	b.state, b.data = blobReleased, nil
	if b.seg != nil {
		if filling {
			b.seg.Unlink()
		}
		b.seg.Close()
	}
	if b.priv != nil {
		b.priv.Close()
	}
	if filling && b.mb != nil {
		b.mb.ool.uncharge(int64(b.n))
	}
	return nil
}

// String describes the blob without its bytes.
func (b *Blob) String() string { return fmt.Sprintf("blob of %d bytes", b.n) }

// take marks b sent and returns what travels in its stead.
func (b *Blob) take(mb *Mailboxes, node uint64) (wire.Ref, *oolSeg, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.state == blobSent:
		return wire.Ref{}, nil, ErrBlobSent
	case b.state == blobReleased:
		return wire.Ref{}, nil, ErrBlobReleased
	case b.state == blobReceived || b.mb != mb:
		return wire.Ref{}, nil, fmt.Errorf("%w: a blob received, or made by another System, cannot be sent on", ErrInvalidArgument)
	}
	var ref wire.Ref
	var s *oolSeg
	var err error
	if b.seg != nil {
		ref, s, err = b.handPlain(mb, node)
	} else {
		ref, s, err = b.seal(mb, node)
	}
	if err != nil {
		return wire.Ref{}, nil, err
	}
	b.state, b.data = blobSent, nil
	mb.ool.uncharge(int64(b.n))
	return ref, s, nil
}

// handPlain renames a plaintext blob's segment for node and makes the
// sender's view read-only; the receiver maps the same pages.
func (b *Blob) handPlain(mb *Mailboxes, node uint64) (wire.Ref, *oolSeg, error) {
	r, _, _ := strings.Cut(b.seg.Name()[len(blobPrefix):], "-")
	name := fmt.Sprintf("%s%s.%016x-%016x", blobPrefix, r, mb.cfg.Self, node)
	st, err := b.seg.Word32(oolState)
	if err != nil {
		return wire.Ref{}, nil, err
	}
	err = b.seg.Do(func() error {
		body := b.seg.Body()
		binary.LittleEndian.PutUint64(body, uint64(b.n))
		st.Store(oolSent)
		return b.seg.Rename(name)
	})
	if err != nil {
		return wire.Ref{}, nil, err
	}
	s := &oolSeg{seg: b.seg, state: st, node: node, blob: true}
	b.seg = nil
	return wire.Ref{Segment: name, Len: uint64(b.n)}, s, nil
}

// seal seals a sealed blob's private bytes into a segment for node.
func (b *Blob) seal(mb *Mailboxes, node uint64) (wire.Ref, *oolSeg, error) {
	n := chunks(b.n, oolChunk)
	name, err := oolName(mb.cfg.Self, node)
	if err != nil {
		return wire.Ref{}, nil, err
	}
	name = blobPrefix + name[len(oolPrefix):]
	ref := wire.Ref{Segment: name, Len: uint64(b.n), Chunk: oolChunk, Key: make([]byte, seal.KeySize), Suite: uint8(seal.LocalSuite())}
	if _, err := rand.Read(ref.Key); err != nil {
		return wire.Ref{}, nil, err
	}
	aead, err := seal.NewAEAD(seal.LocalSuite(), ref.Key)
	if err != nil {
		return wire.Ref{}, nil, err
	}
	seg, err := mb.cfg.Dir.CreateSegment(name, KindBlob, oolHeader+b.n+n*seal.TagSize, func(body []byte) error {
		binary.LittleEndian.PutUint64(body, uint64(b.n))
		binary.LittleEndian.PutUint64(body[8:], oolChunk)
		binary.LittleEndian.PutUint32(body[oolState:], oolSent)
		out := body[oolHeader:]
		return parallel(n, func(i int) error {
			src := b.data[i*oolChunk : min((i+1)*oolChunk, b.n)]
			at := i * (oolChunk + seal.TagSize)
			var nonce [12]byte
			aead.Seal(out[at:at:at+len(src)+seal.TagSize], chunkNonce(&nonce, i, n), src, nil)
			return nil
		})
	})
	if err != nil {
		return wire.Ref{}, nil, err
	}
	st, _ := seg.Word32(oolState)
	// The private bytes stay until the reference is in the inbox
	// (settle): a send that fails leaves the blob the caller's.
	return ref, &oolSeg{seg: seg, state: st, node: node, blob: true}, nil
}

// putBlob hands b to p's node: the reference goes into the inbox, and
// only then is the sender's view of a plaintext blob made read-only,
// since that walks its page tables (milliseconds for a large blob, and
// the process's page faults wait meanwhile). It returns once both are
// done, whatever res says (a blob send is always synchronous).
func (mb *Mailboxes) putBlob(p *peer, b *Blob, m *Outgoing, policy Policy, res *result) error {
	env, s, err := mb.sendBlob(p, b, m)
	if err != nil {
		return err
	}
	if res == nil {
		res = &result{}
	}
	err = mb.put(p, env, m, policy, res)
	if err != nil {
		b.settle(mb, s, false)
		return err
	}
	if !s.blobSealed {
		s.seg.Protect(blobDataOff(), len(s.seg.Body())-blobDataOff(), true)
	}
	b.settle(mb, s, true)
	// Recorded only now, once this goroutine is done with the sender's
	// view: the receiver may have taken the blob already, and whoever
	// finds it taken unmaps the view.
	mb.ool.sentBlob(s)
	return nil
}

// settle ends a send of b in segment s: sent, the sealed blob's private
// bytes go; failed (the reference never reached the inbox), the blob is
// the caller's again, unsent, as it was.
func (b *Blob) settle(mb *Mailboxes, s *oolSeg, sent bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if sent {
		if b.priv != nil {
			b.priv.Close()
			b.priv = nil
		}
		return
	}
	if b.priv != nil {
		s.seg.Unlink()
		s.close()
		b.data = b.priv.Bytes()
	} else {
		r, _, _ := strings.Cut(s.seg.Name()[len(blobPrefix):], ".")
		if err := s.seg.Rename(fmt.Sprintf("%s%s-%016x", blobPrefix, r, mb.cfg.Self)); err != nil {
			s.seg.Unlink()
			s.close()
			b.state = blobReleased
			return
		}
		b.seg = s.seg
		b.data = b.seg.Body()[blobDataOff() : blobDataOff()+b.n : blobDataOff()+b.n]
	}
	b.state = blobFilling
	mb.ool.mu.Lock()
	mb.ool.used += int64(b.n)
	mb.ool.mu.Unlock()
}

// sendBlob returns the envelope (behind its 4-byte length) that hands b
// to p's node, and the segment it travels in.
func (mb *Mailboxes) sendBlob(p *peer, b *Blob, m *Outgoing) ([]byte, *oolSeg, error) {
	ref, s, err := b.take(mb, p.node)
	if err != nil {
		return nil, nil, fmt.Errorf("mailbox: send a blob to node %016x: %w", p.node, err)
	}
	s.blobSealed = len(ref.Key) > 0
	h := wire.Header{Kind: m.Kind, Flags: wire.FlagOutOfLine | wire.FlagBlob, SenderAddress: m.SenderAddress, SenderID: m.SenderID, Target: m.Target, Corr: m.Corr, Type: BlobTypeName}
	env := wire.AppendHeader(make([]byte, 4, 4+128+len(ref.Segment)+64), &h)
	env = wire.AppendRef(env, &ref)
	binary.BigEndian.PutUint32(env, uint32(len(env)-4))
	return env, s, nil
}

// receiveBlob maps (plaintext) or opens (sealed) the blob a reference
// from node from points to, and removes its name.
func (c *Consumer) receiveBlob(from uint64, refBytes []byte) (*Blob, error) {
	if c.dir == nil {
		return nil, errors.New("a blob on a work queue")
	}
	ref, err := wire.DecodeRef(refBytes)
	if err != nil {
		return nil, err
	}
	oname := oolPrefix + ref.Segment[min(len(blobPrefix), len(ref.Segment)):]
	if f, t, ok := parseOOLName(oname); !ok || !strings.HasPrefix(ref.Segment, blobPrefix) || f != from || t != c.self {
		return nil, fmt.Errorf("blob segment %q is not one from node %016x to node %016x", ref.Segment, from, c.self)
	}
	seg, err := c.dir.OpenSegmentReadOnly(ref.Segment, KindBlob)
	if err != nil {
		return nil, err
	}
	// Mapped: the name is no longer needed, and its going tells the
	// sender the blob is taken.
	c.dir.Remove(ref.Segment)
	st, err := seg.Word32(oolState)
	if err != nil {
		seg.Close()
		return nil, err
	}
	b := &Blob{state: blobReceived, n: int(ref.Len)}
	err = seg.Do(func() error {
		if s := st.Load(); s != oolSent {
			return fmt.Errorf("blob segment %s is in state %d, not sent", ref.Segment, s)
		}
		body := seg.Body()
		if len(body) < oolHeader {
			return fmt.Errorf("blob segment %s: a %d-byte body, shorter than its header", ref.Segment, len(body))
		}
		if n := binary.LittleEndian.Uint64(body); n != ref.Len || n == 0 {
			return fmt.Errorf("blob segment %s says %d bytes, the reference %d", ref.Segment, n, ref.Len)
		}
		if len(ref.Key) == 0 {
			if c.sealer != nil && !c.sealer.Plaintext() {
				return fmt.Errorf("blob segment %s is not sealed", ref.Segment)
			}
			off := blobDataOff()
			if len(body) < off || ref.Len > uint64(len(body)-off) {
				return fmt.Errorf("blob segment %s: %d bytes in a %d-byte body", ref.Segment, ref.Len, len(body))
			}
			b.data = body[off : off+b.n : off+b.n]
			return nil
		}
		return c.openBlob(seg, &ref, b)
	})
	if err != nil {
		if b.priv != nil {
			b.priv.Close()
		}
		seg.Close()
		return nil, err
	}
	if b.priv == nil {
		b.seg = seg // mapped read-only
	} else {
		seg.Close()
		b.priv.Protect(true)
	}
	return b, nil
}

// openBlob opens a sealed blob's chunks into private memory of b's.
func (c *Consumer) openBlob(seg *shm.Segment, ref *wire.Ref, b *Blob) error {
	if ref.Chunk != oolChunk || len(ref.Key) != seal.KeySize {
		return fmt.Errorf("blob segment %s: chunks of %d bytes, a %d-byte key", ref.Segment, ref.Chunk, len(ref.Key))
	}
	data := seg.Body()[oolHeader:]
	count := chunks(b.n, oolChunk)
	if uint64(b.n)+uint64(count)*seal.TagSize > uint64(len(data)) {
		return fmt.Errorf("blob segment %s: %d bytes sealed in a %d-byte body", ref.Segment, b.n, len(data))
	}
	var aead cipher.AEAD
	aead, err := seal.NewAEAD(seal.Suite(ref.Suite), ref.Key)
	if err != nil {
		return err
	}
	if b.priv, err = shm.MapPrivate(b.n); err != nil {
		return err
	}
	out := b.priv.Bytes()
	b.data = out[:b.n:b.n]
	return parallel(count, func(i int) error {
		return seg.Do(func() error {
			plain := out[i*oolChunk : min((i+1)*oolChunk, b.n)]
			at := i * (oolChunk + seal.TagSize)
			// Copy first, so that nobody can change the chunk between
			// its check and its decryption.
			sealed := make([]byte, len(plain)+seal.TagSize)
			copy(sealed, data[at:at+len(sealed)])
			var nonce [12]byte
			if _, err := aead.Open(plain[:0], chunkNonce(&nonce, i, count), sealed, nil); err != nil {
				return fmt.Errorf("blob segment %s: chunk %d: %w", ref.Segment, i, seal.ErrAuth)
			}
			return nil
		})
	})
}
