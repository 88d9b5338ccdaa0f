package seal

import (
	"errors"
	"reflect"
	"testing"

	"github.com/shmactor/shmactor/internal/wire"
)

// A pair seals with AES-256-GCM only when both nodes offer it, both sides
// agree, and envelopes cross either way.
func TestPairSuite(t *testing.T) {
	noAES := func(c *Config) { c.NoAES = true }
	for _, tc := range []struct {
		name   string
		a, b   []func(*Config)
		want   Suite
		hwOnly bool // the case needs a CPU with AES instructions
	}{
		{name: "both offer AES", want: AES256GCM, hwOnly: true},
		{name: "one offers AES", b: []func(*Config){noAES}, want: ChaCha20Poly1305},
		{name: "neither offers AES", a: []func(*Config){noAES}, b: []func(*Config){noAES}, want: ChaCha20Poly1305},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if tc.hwOnly && !HardwareAES {
				want = ChaCha20Poly1305 // this CPU offers no AES: the pair falls back
			}
			a := newNode(t, "suite", 1, false, tc.a...)
			b := newNode(t, "suite", 2, false, tc.b...)
			introduce(t, a, b)
			for _, n := range []*node{a, b} {
				other := uint64(3 - n.id)
				if got, ok := n.SuiteOf(other); !ok || got != want {
					t.Fatalf("node %d seals to %d with %v (known %v), want %v", n.id, other, got, ok, want)
				}
			}
			in := &order{ID: 7, Customer: "c", Lines: []line{{SKU: "x", Qty: 2}}}
			for _, pair := range [][2]*node{{a, b}, {b, a}} {
				_, v, err := pair[1].open(pair[0].envelope(t, pair[1].id, wire.KindUser, "t", in))
				if err != nil || !reflect.DeepEqual(v, in) {
					t.Fatalf("%d→%d: %+v, %v", pair[0].id, pair[1].id, v, err)
				}
			}
		})
	}
}

// A node that claims a suite its peer does not use derives other keys:
// its envelopes fail to open (ErrAuth) rather than being read with a
// suite the other side did not agree to.
func TestSuiteBoundIntoKeys(t *testing.T) {
	a := newNode(t, "suite", 1, false)
	b := newNode(t, "suite", 2, false)
	pa, pb := a.Self(), b.Self()
	pa.AES, pb.AES = true, true
	if err := a.AddPeer(pb); err != nil {
		t.Fatal(err)
	}
	pa.AES = false // b believes a offers only ChaCha20-Poly1305
	if err := b.AddPeer(pa); err != nil {
		t.Fatal(err)
	}
	if !a.Self().AES {
		t.Skip("this CPU has no AES instructions: a cannot seal with AES-256-GCM")
	}
	_, _, err := b.open(a.envelope(t, 2, wire.KindUser, "t", &order{ID: 1}))
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("open with disagreeing suites: %v, want ErrAuth", err)
	}
}

// SealAppend seals a payload that lies apart from the header into a frame
// that opens like one sealed in place, in both modes, and leaves the
// payload as it was.
func TestSealAppend(t *testing.T) {
	for _, plaintext := range []bool{false, true} {
		t.Run(mode(plaintext), func(t *testing.T) {
			a, b := newNode(t, "append", 1, plaintext), newNode(t, "append", 2, plaintext)
			introduce(t, a, b)
			v := &order{ID: 9, Notes: "apart"}
			name, _ := reg.NameOf(v)
			payload, err := a.enc.AppendPayload(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			orig := append([]byte(nil), payload...)
			seq, epoch, _ := a.Next(2)
			h := wire.Header{Kind: wire.KindUser, From: 1, To: 2, Type: name, Seq: seq, Epoch: epoch}
			if !plaintext {
				h.Flags = wire.FlagSealed
			}
			frame, err := a.SealAppend(wire.AppendHeader(make([]byte, 0, 8), &h), payload, 2, seq)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(payload, orig) {
				t.Fatal("SealAppend changed the payload")
			}
			_, got, err := b.open(frame)
			if err != nil || !reflect.DeepEqual(got, v) {
				t.Fatalf("opened %+v, %v", got, err)
			}
		})
	}
}
