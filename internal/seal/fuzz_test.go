package seal

import (
	"testing"

	"github.com/shmactor/shmactor/internal/wire"
)

// FuzzOpen feeds arbitrary frames to a receiving node: header decoding,
// Open and payload decoding must return errors, never panic, and nothing
// but envelopes sealed by the peer may open.
func FuzzOpen(f *testing.F) {
	a, b := newNode(f, "fuzz", 1, false), newNode(f, "fuzz", 2, false)
	introduce(f, a, b)
	for _, v := range []any{&order{ID: 1, Customer: "c", Lines: []line{{"x", 1}}}, &order{}, nil} {
		f.Add(a.envelope(f, 2, wire.KindUser, "t", v))
	}
	f.Add(wire.AppendHeader(nil, &wire.Header{Kind: wire.KindUser, From: 1, To: 2, Flags: wire.FlagSealed, Seq: 1, Epoch: 1}))
	f.Fuzz(func(t *testing.T, frame []byte) {
		// A fresh receiver each time, so the window does not remember
		// seeds, and a sender whose sequence numbers start over.
		recv := &node{Sealer: mustNew(t, Config{Namespace: "fuzz", Node: 2, Keys: b.keys}), id: 2, dec: wire.NewDecoder(reg)}
		if err := recv.AddPeer(a.Self()); err != nil {
			t.Fatal(err)
		}
		recv.open(frame)
	})
}
