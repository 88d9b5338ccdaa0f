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
	a, err := m.wrap(&Ping{N: 7, Note: "héllo"})
	if err != nil {
		t.Fatal(err)
	}
	id, v, err := m.unwrap(a, map[string]string{targetHeader: "orders"})
	if err != nil || id != "orders" {
		t.Fatalf("unwrap: %q, %v", id, err)
	}
	if p := v.(*Ping); p.N != 7 || p.Note != "héllo" {
		t.Fatalf("arrived as %+v", p)
	}
	if _, err := m.wrap(&Unregistered{X: 1}); !errors.Is(err, ErrUnregistered) {
		t.Fatalf("an unregistered type: %v, want ErrUnregistered", err)
	}
	for name, tc := range map[string]struct {
		a      *anypb.Any
		header map[string]string
	}{
		"foreign type URL": {&anypb.Any{TypeUrl: "type.googleapis.com/x"}, map[string]string{targetHeader: "t"}},
		"no target":        {a, nil},
		"unknown type":     {&anypb.Any{TypeUrl: anyPrefix + "no.such.Type", Value: []byte{0x80}}, map[string]string{targetHeader: "t"}},
		"bad payload":      {&anypb.Any{TypeUrl: a.TypeUrl, Value: []byte{0xc1}}, map[string]string{targetHeader: "t"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := m.unwrap(tc.a, tc.header); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// Messages from other machines' nodes are decoded by the gateway; no
// bytes make it panic.
func FuzzGatewayUnwrap(f *testing.F) {
	m := testMachine()
	a, err := m.wrap(&Ping{N: 1, Note: "x"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(a.TypeUrl, a.Value, "orders")
	f.Add(anyPrefix+"shmactor.lookupAt", []byte{0x91, 0xa1, 0x78}, "shmactor-names")
	f.Add("", []byte{}, "")
	f.Fuzz(func(t *testing.T, typeURL string, value []byte, target string) {
		_, _, _ = m.unwrap(&anypb.Any{TypeUrl: typeURL, Value: value}, map[string]string{targetHeader: target})
	})
}
