package stream

import (
	"github.com/shmactor/shmactor/actor"
)

// A stream's bytes travel through a pipe of its own, a shared-memory
// segment with one ring per direction (shm.Pipe), sealed with a key of
// its own when the System seals. Opening, accepting and refusing a stream
// travel as ctrl messages between the two ends' actors, which also watch
// each other, so that a peer that dies ends the stream.
//
// ctrl is the stream's protocol message. It is the package's own: it is
// registered under a fixed name and never seen by users.
type ctrl struct {
	Op   uint8
	Addr string // opOpen, opAccept: the sender's stream actor
	ID   string
	// opOpen: the pipe the dialer made, and the stream's key and suite
	// (no key: plaintext). The key is for this stream only; it travels
	// inside the sealed envelope between the two nodes.
	Pipe  string
	Key   []byte
	Suite uint8
}

const (
	opOpen   = iota + 1 // dialer → listener: here is a pipe, make me a stream
	opAccept            // listener → dialer: here is your peer
	opRefuse            // listener → dialer: no
)

const (
	// window is the size of each direction's ring: how many bytes a
	// writer sends ahead of what its reader has read.
	window = 512 << 10
	// chunk is the most bytes a frame carries.
	chunk = 64 << 10
	// prefix puts listeners' names apart from actors' in the namespace.
	prefix = "stream/"
	// pipePrefix starts every pipe's segment name, which ends with the
	// dialing node's id, so that the registry reaps the pipes of a node
	// that dies while it dials.
	pipePrefix = "stream."
	// backlog is how many streams a listener holds that Accept has not
	// taken yet; more are refused.
	backlog = 128
)

func init() {
	if err := actor.RegisterMessageName[*ctrl]("shmactor.stream.ctrl"); err != nil {
		panic(err)
	}
}

// peerDown tells a stream actor that its peer's actor has terminated.
type peerDown struct{ gone bool }

// listenerDown tells a dialing stream actor, behind whatever the
// listener sent before, that the listener's actor has terminated.
type listenerDown struct{}

// stopConn asks a stream actor to stop watching and stop.
type stopConn struct{}
