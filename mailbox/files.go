package mailbox

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shmactor/shmactor/registry"
)

// Descriptors in messages. An *os.File field of a registered message
// crosses as a working descriptor of the receiving process: the envelope
// carries the field's index into the message's files and, in its
// metadata, a token and the number of files; the descriptors themselves
// go, before the envelope, over a Unix socket the receiving node listens
// on in the namespace directory ("files-<node>"), as SCM_RIGHTS ancillary
// data with the token (Linux and macOS). The receiver matches them by
// token; the token travels inside the sealed envelope, so nobody else
// can claim or forge them.

// ErrFiles is returned for a message with descriptors that cannot be
// passed: the platform cannot (Windows), or the receiver's socket cannot
// be reached.
var ErrFiles = errors.New("mailbox: cannot pass file descriptors")

// filesKey is the metadata key of a message's descriptors: "<token>:<n>".
const filesKey = "shmactor.files"

// filesWait is how long a receiver waits for a message's descriptors,
// which travel beside its envelope, and filesKeep how long descriptors
// nobody claims are kept before they are closed.
const (
	filesWait = 5 * time.Second
	filesKeep = time.Minute
)

// fileStore holds the descriptors that have arrived, by token.
type fileStore struct {
	mu      sync.Mutex
	cond    sync.Cond
	byToken map[uint64]*arrived
	closed  bool
}

type arrived struct {
	files []*os.File
	at    time.Time
}

func newFileStore() *fileStore {
	s := &fileStore{byToken: map[uint64]*arrived{}}
	s.cond.L = &s.mu
	return s
}

// add files that arrived with token.
func (s *fileStore) add(token uint64, files []*os.File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		closeAll(files)
		return
	}
	a := s.byToken[token]
	if a == nil {
		a = &arrived{at: time.Now()}
		s.byToken[token] = a
	}
	a.files = append(a.files, files...)
	// Forget what nobody claimed for long.
	for t, old := range s.byToken {
		if time.Since(old.at) > filesKeep {
			closeAll(old.files)
			delete(s.byToken, t)
		}
	}
	s.cond.Broadcast()
}

// claim waits up to filesWait for n descriptors sent with token.
func (s *fileStore) claim(token uint64, n int) ([]*os.File, error) {
	deadline := time.Now().Add(filesWait)
	t := time.AfterFunc(filesWait, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer t.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if a := s.byToken[token]; a != nil && len(a.files) >= n {
			delete(s.byToken, token)
			if len(a.files) > n {
				closeAll(a.files[n:])
			}
			return a.files[:n], nil
		}
		if s.closed || time.Now().After(deadline) {
			got := 0
			if a := s.byToken[token]; a != nil {
				got = len(a.files)
				closeAll(a.files)
				delete(s.byToken, token)
			}
			return nil, fmt.Errorf("%w: %d of %d descriptors arrived in %v", ErrFiles, got, n, filesWait)
		}
		s.cond.Wait()
	}
}

func (s *fileStore) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for t, a := range s.byToken {
		closeAll(a.files)
		delete(s.byToken, t)
	}
	s.cond.Broadcast()
}

func closeAll(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

// filesName is the name of node's descriptor socket.
func filesName(node uint64) string { return registry.NodeFile("files", node) }

// withFiles re-encodes m's envelope, whose payload holds files, with the
// token that will bring them, and sends the descriptors to node. It
// returns the new envelope.
func (mb *Mailboxes) withFiles(e *encoder, m *Outgoing, node uint64) ([]byte, error) {
	if len(e.enc.Files) > maxFiles {
		// The receiver would refuse the message and leave the
		// descriptors unclaimed.
		return nil, fmt.Errorf("%w: a %T with %d descriptors (at most %d)", ErrTooLarge, m.Value, len(e.enc.Files), maxFiles)
	}
	files := append([]*os.File(nil), e.enc.Files...)
	var tb [8]byte
	if _, err := rand.Read(tb[:]); err != nil {
		return nil, err
	}
	token := binary.LittleEndian.Uint64(tb[:])
	m2 := *m
	m2.Meta = maps.Clone(m.Meta)
	if m2.Meta == nil {
		m2.Meta = map[string]string{}
	}
	m2.Meta[filesKey] = fmt.Sprintf("%x:%d", token, len(files))
	env, err := mb.envelope(e, &m2)
	if err != nil {
		return nil, err
	}
	if err := mb.sendFiles(node, token, files); err != nil {
		return nil, err
	}
	return env, nil
}

// takeFiles returns the descriptors a received message's metadata
// announces, waiting for them to arrive, and removes the key.
func (c *Consumer) takeFiles(meta map[string]string) ([]*os.File, error) {
	v, ok := meta[filesKey]
	if !ok {
		return nil, nil
	}
	delete(meta, filesKey)
	if c.files == nil {
		return nil, fmt.Errorf("%w: descriptors sent to a work queue", ErrFiles)
	}
	ts, ns, ok := strings.Cut(v, ":")
	token, err1 := strconv.ParseUint(ts, 16, 64)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n <= 0 || n > maxFiles {
		return nil, fmt.Errorf("%w: malformed descriptor key %q", ErrFiles, v)
	}
	return c.files.claim(token, n)
}

// maxFiles bounds the descriptors one message may carry.
const maxFiles = 1024
