package stream

import (
	"github.com/shmactor/shmactor/actor"
)

// The bytes of a stream travel as []byte messages from the writer's
// stream actor to the reader's; everything else is a ctrl.
//
// ctrl is the stream's protocol message. It is the package's own: it is
// registered under a fixed name and never seen by users.
type ctrl struct {
	Op   uint8
	Addr string // opOpen, opAccept: the sender's stream actor
	ID   string
	N    int64 // opOpen, opAccept: the sender's window; opCredit: bytes granted
}

const (
	opOpen   = iota + 1 // dialer → listener: make me a stream
	opAccept            // listener → dialer: here is your peer
	opRefuse            // listener → dialer: no
	opCredit            // reader → writer: you may send N more bytes
	opFin               // writer → reader: no more data (CloseWrite)
	opClose             // either way: closed; no more data, and none wanted
)

const (
	// window is how many bytes a reader lets its writer send ahead of
	// what it has read: what a stream buffers at most.
	window = 1 << 20
	// chunk is the most bytes a message carries.
	chunk = 32 << 10
	// prefix puts listeners' names apart from actors' in the namespace.
	prefix = "stream/"
	// backlog is how many streams a listener holds that Accept has not
	// taken yet; more are refused.
	backlog = 128
)

func init() {
	if err := actor.RegisterMessageName[*ctrl]("shmactor.stream.ctrl"); err != nil {
		panic(err)
	}
}

// peerDown tells a stream actor, behind whatever its peer sent before,
// that the peer's actor has terminated.
type peerDown struct{ gone bool }

// listenerDown tells a dialing stream actor, behind whatever the
// listener sent before, that the listener's actor has terminated.
type listenerDown struct{}

// stopConn asks a stream actor to stop watching and stop.
type stopConn struct{}
