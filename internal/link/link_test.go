package link

import (
	"errors"
	"testing"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/mailbox"
)

func TestHost(t *testing.T) {
	sys := proto.NewActorSystem()
	defer sys.Shutdown()
	h := &Host{Node: 7}
	if Of(sys) != nil {
		t.Fatal("a system without a host has one")
	}
	Attach(sys, h)
	if Of(sys) != h {
		t.Fatal("Of does not find the attached host")
	}

	m := &mailbox.Message{Target: "a.b"}
	if h.Publish(m) {
		t.Fatal("Publish without a handler reported one")
	}
	var got string
	h.HandlePublish(func(m *mailbox.Message) { got = m.Target })
	if !h.Publish(m) || got != "a.b" {
		t.Fatalf("Publish: handler got %q", got)
	}
	if h.Undelivered(1, &mailbox.Outgoing{}, nil) {
		t.Fatal("Undelivered without a handler reported one")
	}
	var why error
	h.HandleUndelivered(func(_ uint64, _ *mailbox.Outgoing, err error) { why = err })
	if !h.Undelivered(1, &mailbox.Outgoing{}, mailbox.ErrNodeGone) || !errors.Is(why, mailbox.ErrNodeGone) {
		t.Fatalf("Undelivered: handler got %v", why)
	}

	var order []string
	mk := func(name string) func() (any, func()) {
		return func() (any, func()) { return name, func() { order = append(order, name) } }
	}
	if v := h.Ext("a", mk("a")); v != "a" {
		t.Fatal(v)
	}
	if v := h.Ext("a", mk("other")); v != "a" {
		t.Fatalf("second Ext made a new value %v", v)
	}
	h.Ext("b", mk("b"))
	h.Close()
	h.Close()
	if len(order) != 2 || order[0] != "b" || order[1] != "a" {
		t.Fatalf("closers ran %v, want [b a] once each", order)
	}
	if v := h.Ext("c", mk("c")); v != nil {
		t.Fatalf("Ext after Close made %v", v)
	}
	Detach(sys)
	if Of(sys) != nil {
		t.Fatal("Detach kept the host")
	}
}
