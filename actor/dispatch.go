package actor

import (
	"reflect"
	"sync/atomic"

	proto "github.com/asynkron/protoactor-go/actor"
)

// pumpDispatcher is the dispatcher of actors spawned with SpawnNamed.
// protoactor's default dispatcher starts a goroutine for every run of an
// actor's mailbox: a message from another process then costs a goroutine
// start, a hop to another thread, and the growth of a new stack for the
// handler's sends. The inbox pump instead opens a gate before it hands a
// message to its target; the first run scheduled while the gate is open
// is parked in the gate, and the pump runs it on its own goroutine once
// the message is in the actor's mailbox (mailbox.Mailboxes.RunOnPump), so
// an idle actor handles a message from another process where the message
// arrived. Every other run gets a goroutine of its own, as with
// protoactor's default. A handler that takes long does not hold up the
// inbox: after the hand-off budget the pump moves to a new goroutine.
type pumpDispatcher struct {
	gate *atomic.Pointer[func()]
}

// gateOpen is the gate's value while the pump hands a message on and no
// run has been parked in it.
var gateOpen = new(func())

// Schedule parks fn in the gate when it is open, else runs it on a new
// goroutine. The gate is one word, so a run parked in it is seen by the
// pump whichever goroutine parked it, and none is lost.
func (d pumpDispatcher) Schedule(fn func()) {
	if d.gate.Load() == gateOpen && d.gate.CompareAndSwap(gateOpen, &fn) {
		return
	}
	go fn()
}

// Throughput is how many messages a run handles before it yields the
// thread: protoactor's default.
func (d pumpDispatcher) Throughput() int { return 300 }

// handOn delivers one message with send, on the pump, and runs the
// mailbox run it scheduled, if any, right there.
func (s *System) handOn(send func()) {
	s.gate.Store(gateOpen)
	send()
	if fn := s.gate.Swap(nil); fn != gateOpen && fn != nil {
		s.mb.RunOnPump(*fn)
	}
}

// onPump returns props with the pump dispatcher, unless props has a
// dispatcher of its own (the user's choice stands). props itself is not
// changed.
func (s *System) onPump(props *Props) *Props {
	if props == nil {
		return nil
	}
	if !reflect.ValueOf(props).Elem().FieldByName("dispatcher").IsNil() {
		return props
	}
	p := *props
	return p.Configure(proto.WithDispatcher(pumpDispatcher{gate: &s.gate}))
}
