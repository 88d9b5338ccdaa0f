//go:build unix

package mailbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// fdBatch is how many descriptors go in one SCM_RIGHTS message (the
// kernel's SCM_MAX_FD is 253).
const fdBatch = 250

// fileLink is a node's descriptor socket: the listener others send to,
// and its connections to others'.
type fileLink struct {
	ln    *net.UnixListener
	store *fileStore

	mu    sync.Mutex
	conns map[uint64]*fileConn
	in    map[*net.UnixConn]struct{}
	done  bool
}

type fileConn struct {
	mu sync.Mutex
	c  *net.UnixConn
}

// listenFiles starts this node's descriptor socket. A path too long for
// a socket address leaves descriptor passing off, with the reason kept
// for senders to this node to find.
func (mb *Mailboxes) listenFiles() error {
	path := filepath.Join(mb.cfg.Dir.Path(), filesName(mb.cfg.Self))
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("%w: listen on %s: %w", ErrFiles, path, err)
	}
	ln.SetUnlinkOnClose(true)
	os.Chmod(path, 0o600) // the directory keeps strangers out; this as well
	mb.fl = &fileLink{ln: ln, store: newFileStore(), conns: map[uint64]*fileConn{}, in: map[*net.UnixConn]struct{}{}}
	mb.in.files = mb.fl.store
	go mb.fl.accept()
	return nil
}

func (l *fileLink) accept() {
	for {
		c, err := l.ln.AcceptUnix()
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.done {
			l.mu.Unlock()
			c.Close()
			return
		}
		l.in[c] = struct{}{}
		l.mu.Unlock()
		go l.serve(c)
	}
}

// serve takes descriptors from one sender until it hangs up.
func (l *fileLink) serve(c *net.UnixConn) {
	defer func() {
		l.mu.Lock()
		delete(l.in, c)
		l.mu.Unlock()
		c.Close()
	}()
	buf := make([]byte, 12)
	oob := make([]byte, unix.CmsgSpace(4*fdBatch))
	for {
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		files := parseRights(oob[:oobn])
		if n != 12 || len(files) != int(binary.LittleEndian.Uint32(buf[8:])) {
			closeAll(files) // not ours to make sense of
			continue
		}
		l.store.add(binary.LittleEndian.Uint64(buf), files)
	}
}

// parseRights returns the descriptors of SCM_RIGHTS messages in oob.
func parseRights(oob []byte) []*os.File {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			unix.CloseOnExec(fd)
			files = append(files, os.NewFile(uintptr(fd), "shmactor-passed"))
		}
	}
	return files
}

// sendFiles sends files to node's descriptor socket with token.
func (mb *Mailboxes) sendFiles(node uint64, token uint64, files []*os.File) error {
	if mb.fl == nil {
		return mb.filesErr
	}
	fc, err := mb.fl.conn(mb, node)
	if err != nil {
		return err
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for len(files) > 0 {
		batch := files[:min(len(files), fdBatch)]
		files = files[len(batch):]
		fds := make([]int, len(batch))
		for i, f := range batch {
			fds[i] = int(f.Fd())
		}
		var data [12]byte
		binary.LittleEndian.PutUint64(data[:], token)
		binary.LittleEndian.PutUint32(data[8:], uint32(len(fds)))
		if _, _, err := fc.c.WriteMsgUnix(data[:], unix.UnixRights(fds...), nil); err != nil {
			mb.fl.drop(node)
			return fmt.Errorf("%w: to node %016x: %w", ErrFiles, node, err)
		}
	}
	return nil
}

// conn returns the connection to node's descriptor socket, dialing it
// on first use.
func (l *fileLink) conn(mb *Mailboxes, node uint64) (*fileConn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return nil, ErrClosed
	}
	if fc := l.conns[node]; fc != nil {
		return fc, nil
	}
	path := filepath.Join(mb.cfg.Dir.Path(), filesName(node))
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: node %016x takes no descriptors (its socket is not there)", ErrFiles, node)
		}
		return nil, fmt.Errorf("%w: dial node %016x: %w", ErrFiles, node, err)
	}
	fc := &fileConn{c: c}
	l.conns[node] = fc
	return fc, nil
}

// drop closes the connection to node.
func (l *fileLink) drop(node uint64) {
	l.mu.Lock()
	fc := l.conns[node]
	delete(l.conns, node)
	l.mu.Unlock()
	if fc != nil {
		fc.c.Close()
	}
}

func (l *fileLink) close() {
	l.mu.Lock()
	l.done = true
	conns, in := l.conns, l.in
	l.conns, l.in = map[uint64]*fileConn{}, map[*net.UnixConn]struct{}{}
	l.mu.Unlock()
	l.ln.Close()
	for _, fc := range conns {
		fc.c.Close()
	}
	for c := range in {
		c.Close()
	}
	l.store.close()
}
