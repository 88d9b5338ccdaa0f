package registry

import (
	"reflect"
	"testing"
	"time"
)

// FuzzParseNode parses arbitrary bytes as a node record: errors, never a
// panic, and what parses re-encodes to a record that parses the same.
func FuzzParseNode(f *testing.F) {
	n := &Node{ID: 7, PID: 1234, Start: 99, Joined: time.Unix(0, 1700000000000000000), Epoch: 1,
		CertIdentity: "alice", CertSignature: []byte{1, 2, 3}, Inbox: "inbox-0000000000000007", Meta: map[string]string{"k": "v"}}
	n.PublicKey[0] = 9
	good, _ := MarshalNode(n)
	f.Add(good)
	empty, _ := MarshalNode(&Node{})
	f.Add(empty)
	f.Add([]byte(nodeMagic))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseNode(b)
		if err != nil {
			return
		}
		again, err := MarshalNode(n)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		n2, err := ParseNode(again)
		if err != nil || !reflect.DeepEqual(n, n2) {
			t.Fatalf("round trip: %+v / %+v, %v", n, n2, err)
		}
	})
}

// FuzzParseEntry does the same for name records.
func FuzzParseEntry(f *testing.F) {
	f.Add(marshalEntry(&Entry{Name: "orders", Node: 5, Target: "$1", Registered: time.Unix(0, 17)}))
	f.Add(marshalEntry(&Entry{Name: "t.*", Shared: true, Node: 1}))
	f.Add([]byte(nameMagic + "\x03"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := parseEntry(b)
		if err != nil {
			return
		}
		e2, err := parseEntry(marshalEntry(e))
		if err != nil || *e2 != *e {
			t.Fatalf("round trip: %+v / %+v, %v", e, e2, err)
		}
	})
}
