package actor

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/types/known/anypb"

	"github.com/shmactor/shmactor/internal/wire"
)

// testMachine is a machine with the default registry, for its encoding
// alone.
func testMachine() *machine {
	m := &machine{sys: &System{types: wire.Default}}
	m.encs.New = func() any { return wire.NewEncoder(wire.Default) }
	m.decs.New = func() any { return wire.NewDecoder(wire.Default) }
	return m
}

// A registered message crosses machines as it was; what cannot cross is
// refused at the send, naming why.
func TestMachineWrap(t *testing.T) {
	m := testMachine()
	a, err := m.wrap("orders", &Ping{N: 7, Note: "héllo"})
	if err != nil {
		t.Fatal(err)
	}
	id, v, err := m.unwrap(a)
	if err != nil || id != "orders" {
		t.Fatalf("unwrap: %q, %v", id, err)
	}
	if p := v.(*Ping); p.N != 7 || p.Note != "héllo" {
		t.Fatalf("arrived as %+v", p)
	}
	if _, err := m.wrap("orders", &Unregistered{X: 1}); !errors.Is(err, ErrUnregistered) {
		t.Fatalf("an unregistered type: %v, want ErrUnregistered", err)
	}
	for name, bad := range map[string]*anypb.Any{
		"foreign type URL": {TypeUrl: "type.googleapis.com/x", Value: a.Value},
		"no target":        {TypeUrl: a.TypeUrl, Value: []byte{0}},
		"target too long":  {TypeUrl: a.TypeUrl, Value: []byte{9, 'x'}},
		"unknown type":     {TypeUrl: anyPrefix + "no.such.Type", Value: a.Value},
		"bad payload":      {TypeUrl: a.TypeUrl, Value: []byte{1, 't', 0xc1}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := m.unwrap(bad); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// Messages from other machines' nodes are decoded by the gateway; no
// bytes make it panic.
func FuzzGatewayUnwrap(f *testing.F) {
	m := testMachine()
	a, err := m.wrap("orders", &Ping{N: 1, Note: "x"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(a.TypeUrl, a.Value)
	f.Add(anyPrefix+"shmactor.lookupAt", []byte{14, 's', 'h', 'm', 'a', 'c', 't', 'o', 'r', '-', 'n', 'a', 'm', 'e', 's', 0x91, 0xa1, 0x78})
	f.Add("", []byte{})
	f.Fuzz(func(t *testing.T, typeURL string, value []byte) {
		_, _, _ = m.unwrap(&anypb.Any{TypeUrl: typeURL, Value: value})
	})
}
