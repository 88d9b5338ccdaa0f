package stream

import (
	"fmt"
	"strconv"
	"strings"
)

// network is what Addr.Network returns.
const network = "shm"

// Addr is the address of one end of a stream: the namespace, the node
// (process) and, for a listener and the streams it accepts, the name it
// listens on; for the dialing end, the id of its stream's actor.
type Addr struct {
	Namespace string
	Node      uint64
	Name      string
}

// Network returns "shm".
func (a *Addr) Network() string { return network }

// String returns "namespace/node/name", the node in 16 hex digits.
func (a *Addr) String() string {
	if a == nil {
		return "<nil>"
	}
	if a.Node == 0 {
		return fmt.Sprintf("%s/?/%s", a.Namespace, a.Name) // no node serves it
	}
	return fmt.Sprintf("%s/%016x/%s", a.Namespace, a.Node, a.Name)
}

// nodeOfAddress returns the node of a PID address ("shm://ns/<hex id>").
func nodeOfAddress(address string) uint64 {
	i := strings.LastIndexByte(address, '/')
	n, _ := strconv.ParseUint(address[i+1:], 16, 64)
	return n
}
