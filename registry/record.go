package registry

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Records are small binary files with a magic, a version and
// length-prefixed fields. Parsers check every length against what remains
// and the field's limit, reject unknown versions and trailing bytes, and
// name the field at fault.

const (
	nodeMagic   = "shmnode\x01"
	nameMagic   = "shmname\x01"
	maxField    = 4096
	maxMeta     = 64
	maxRecord   = 64 << 10
	pubKeySize  = 32
	kindExcl    = 1
	kindShared  = 2
	recordVersn = 1
)

// Node is what a node publishes about itself when it joins.
type Node struct {
	ID     uint64    // node id, unique in the namespace while the node lives
	PID    int       // process id
	Start  uint64    // process start time (platform units), for pid reuse checks
	Joined time.Time // when the node joined

	// What peers need to seal to this node and reach its inbox.
	PublicKey     [pubKeySize]byte
	Epoch         uint32
	CertIdentity  string // identity that signed the key, "" without one
	CertSignature []byte
	Inbox         string // the node's inbox segment

	// Meta carries other facts, for layers above (at most 64 entries).
	Meta map[string]string
}

// Entry is a registered name.
type Entry struct {
	Name       string
	Shared     bool      // a subscription (shared by many nodes), not an exclusive name
	Node       uint64    // the node holding it
	Target     string    // what the holder registered it for (an actor id)
	Registered time.Time // when
}

type recWriter struct{ b []byte }

func (w *recWriter) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *recWriter) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *recWriter) str(s string) {
	w.b = binary.BigEndian.AppendUint16(w.b, uint16(len(s)))
	w.b = append(w.b, s...)
}

type recReader struct {
	b   []byte
	off int
	err error
}

func (r *recReader) fail(field, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at byte %d: %s", ErrBadRecord, field, r.off, fmt.Sprintf(format, args...))
	}
}

func (r *recReader) take(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail(field, "needs %d bytes, %d remain", n, len(r.b)-r.off)
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *recReader) u32(field string) uint32 {
	if b := r.take(field, 4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *recReader) u64(field string) uint64 {
	if b := r.take(field, 8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *recReader) str(field string) string {
	b := r.take(field, 2)
	if b == nil {
		return ""
	}
	n := int(binary.BigEndian.Uint16(b))
	if n > maxField {
		r.fail(field, "%d bytes, at most %d", n, maxField)
		return ""
	}
	return string(r.take(field, n))
}

func (r *recReader) magic(m string) {
	if b := r.take("magic", len(m)); b != nil && string(b) != m {
		r.fail("magic", "%q, want %q", b, m)
	}
}

func (r *recReader) end() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail("record", "%d bytes after the last field", len(r.b)-r.off)
	}
	return r.err
}

func timeFromNanos(n uint64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(n))
}

func nanos(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano())
}

// MarshalNode encodes a node record.
func MarshalNode(n *Node) ([]byte, error) {
	if len(n.Meta) > maxMeta {
		return nil, fmt.Errorf("%w: node meta has %d entries, at most %d", ErrInvalidName, len(n.Meta), maxMeta)
	}
	for _, s := range []string{n.CertIdentity, string(n.CertSignature), n.Inbox} {
		if len(s) > maxField {
			return nil, fmt.Errorf("%w: node field of %d bytes, at most %d", ErrInvalidName, len(s), maxField)
		}
	}
	w := recWriter{b: make([]byte, 0, 128)}
	w.b = append(w.b, nodeMagic...)
	w.u64(n.ID)
	w.u64(uint64(n.PID))
	w.u64(n.Start)
	w.u64(nanos(n.Joined))
	w.b = append(w.b, n.PublicKey[:]...)
	w.u32(n.Epoch)
	w.str(n.CertIdentity)
	w.str(string(n.CertSignature))
	w.str(n.Inbox)
	w.u32(uint32(len(n.Meta)))
	for k, v := range n.Meta {
		if len(k) > maxField || len(v) > maxField {
			return nil, fmt.Errorf("%w: node meta %q: entries of at most %d bytes", ErrInvalidName, k, maxField)
		}
		w.str(k)
		w.str(v)
	}
	return w.b, nil
}

// ParseNode decodes a node record. Any malformation is an error wrapping
// ErrBadRecord that names the field.
func ParseNode(b []byte) (*Node, error) {
	if len(b) > maxRecord {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrBadRecord, len(b), maxRecord)
	}
	r := recReader{b: b}
	r.magic(nodeMagic)
	n := &Node{ID: r.u64("id")}
	pid := r.u64("pid")
	if pid > 1<<31 {
		r.fail("pid", "%d out of range", pid)
	}
	n.PID = int(pid)
	n.Start = r.u64("start")
	n.Joined = timeFromNanos(r.u64("joined"))
	copy(n.PublicKey[:], r.take("public key", pubKeySize))
	n.Epoch = r.u32("epoch")
	n.CertIdentity = r.str("cert identity")
	if sig := r.str("cert signature"); sig != "" {
		n.CertSignature = []byte(sig)
	}
	n.Inbox = r.str("inbox")
	m := r.u32("meta count")
	if m > maxMeta {
		r.fail("meta count", "%d entries, at most %d", m, maxMeta)
	}
	if m > 0 && r.err == nil {
		n.Meta = make(map[string]string, m)
		for range m {
			k := r.str("meta key")
			n.Meta[k] = r.str("meta value")
		}
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return n, nil
}

// marshalEntry encodes a name record.
func marshalEntry(e *Entry) []byte {
	w := recWriter{b: make([]byte, 0, 64+len(e.Name)+len(e.Target))}
	w.b = append(w.b, nameMagic...)
	kind := byte(kindExcl)
	if e.Shared {
		kind = kindShared
	}
	w.b = append(w.b, kind)
	w.u64(e.Node)
	w.str(e.Name)
	w.str(e.Target)
	w.u64(nanos(e.Registered))
	return w.b
}

// parseEntry decodes a name record.
func parseEntry(b []byte) (*Entry, error) {
	if len(b) > maxRecord {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrBadRecord, len(b), maxRecord)
	}
	r := recReader{b: b}
	r.magic(nameMagic)
	e := &Entry{}
	switch k := r.take("kind", 1); {
	case k == nil:
	case k[0] == kindExcl:
	case k[0] == kindShared:
		e.Shared = true
	default:
		r.fail("kind", "unknown kind %d", k[0])
	}
	e.Node = r.u64("node")
	e.Name = r.str("name")
	e.Target = r.str("target")
	e.Registered = timeFromNanos(r.u64("registered"))
	if err := r.end(); err != nil {
		return nil, err
	}
	if err := ValidName(e.Name); err != nil {
		return nil, fmt.Errorf("%w: name: %v", ErrBadRecord, err)
	}
	return e, nil
}
