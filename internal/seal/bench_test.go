package seal

import (
	"fmt"
	"testing"

	"github.com/shmactor/shmactor/internal/wire"
)

// benchOrder returns a realistic message whose payload encodes to about
// size bytes: an order with line items.
func benchOrder(size int) *order {
	o := &order{ID: 123456, Customer: "ada", SKU: "sku-1", Qty: 2, Price: 19.99}
	enc := wire.NewEncoder(reg)
	for {
		b, _ := enc.AppendPayload(nil, o)
		if len(b) >= size-16 {
			return o
		}
		o.Lines = append(o.Lines, line{SKU: fmt.Sprintf("sku-%05d", len(o.Lines)), Qty: int32(len(o.Lines))})
	}
}

// BenchmarkEncodeSeal measures building a whole envelope: header, payload
// encoding, sealing (nonce, encryption, tag).
func BenchmarkEncodeSeal(b *testing.B) {
	for _, size := range []int{64, 1024, 4096} {
		for _, plaintext := range []bool{false, true} {
			a, r := newNode(b, "bench", 1, plaintext), newNode(b, "bench", 2, plaintext)
			introduce(b, a, r)
			v := benchOrder(size)
			name, _ := reg.NameOf(v)
			p, _ := a.enc.AppendPayload(nil, v)
			b.Run(fmt.Sprintf("%s/%dB", mode(plaintext), len(p)), func(b *testing.B) {
				buf := make([]byte, 0, 8192)
				b.ReportAllocs()
				b.SetBytes(int64(len(p)))
				for b.Loop() {
					seq, epoch, _ := a.Next(2)
					h := wire.Header{Kind: wire.KindUser, Flags: flags(plaintext), From: 1, To: 2, SenderAddress: "shm://bench/1", SenderID: "$7", Target: "orders", Type: name, Seq: seq, Epoch: epoch}
					buf = wire.AppendHeader(buf[:0], &h)
					hl := len(buf)
					buf, _ = a.enc.AppendPayload(buf, v)
					var err error
					if buf, err = a.Seal(buf, hl, 2, seq); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkOpenDecode measures receiving an envelope: copying it out (as
// from the ring), decoding the header, opening it (authentication,
// decryption, replay window) and decoding the payload into a new value.
func BenchmarkOpenDecode(b *testing.B) {
	for _, size := range []int{64, 1024, 4096} {
		for _, plaintext := range []bool{false, true} {
			a, r := newNode(b, "bench", 1, plaintext), newNode(b, "bench", 2, plaintext)
			introduce(b, a, r)
			v := benchOrder(size)
			p, _ := a.enc.AppendPayload(nil, v)
			b.Run(fmt.Sprintf("%s/%dB", mode(plaintext), len(p)), func(b *testing.B) {
				// Envelopes need fresh sequence numbers: seal them in
				// batches outside the timer.
				const batch = 2048
				frames := make([][]byte, 0, batch)
				refill := func() {
					b.StopTimer()
					frames = frames[:0]
					for range batch {
						frames = append(frames, a.envelope(b, 2, wire.KindUser, "orders", v))
					}
					b.StartTimer()
				}
				buf := make([]byte, 0, 8192)
				b.ReportAllocs()
				b.SetBytes(int64(len(p)))
				i := len(frames)
				b.ResetTimer()
				for range b.N {
					if i == len(frames) {
						refill()
						i = 0
					}
					buf = append(buf[:0], frames[i]...)
					i++
					h, hl, err := r.dec.Header(buf)
					if err != nil {
						b.Fatal(err)
					}
					pl, err := r.Open(buf, hl, Meta{From: h.From, To: h.To, Epoch: h.Epoch, Seq: h.Seq, Sealed: h.Flags&wire.FlagSealed != 0})
					if err != nil {
						b.Fatal(err)
					}
					if _, err := r.dec.Payload(h.Type, pl); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func mode(plaintext bool) string {
	if plaintext {
		return "plaintext"
	}
	return "sealed"
}

func flags(plaintext bool) wire.Flags {
	if plaintext {
		return 0
	}
	return wire.FlagSealed
}

// BenchmarkSealSuite measures sealing alone, with each AEAD, for bodies of
// 64 B to 64 KiB: what choosing AES-256-GCM per pair buys.
func BenchmarkSealSuite(b *testing.B) {
	for _, suite := range []Suite{ChaCha20Poly1305, AES256GCM} {
		if suite == AES256GCM && !HardwareAES {
			continue // no AES instructions: pairs never choose it here
		}
		noAES := func(c *Config) { c.NoAES = suite != AES256GCM }
		a, r := newNode(b, "bench", 1, false, noAES), newNode(b, "bench", 2, false, noAES)
		introduce(b, a, r)
		for _, size := range []int{64, 4096, 65536} {
			b.Run(fmt.Sprintf("%v/%dB", suite, size), func(b *testing.B) {
				h := wire.AppendHeader(nil, &wire.Header{Kind: wire.KindBatch, Flags: wire.FlagSealed, From: 1, To: 2, Seq: 1, Epoch: 1})
				buf := make([]byte, 0, len(h)+size+TagSize)
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					seq, _, _ := a.Next(2)
					buf = append(append(buf[:0], h...), make([]byte, size)...)
					var err error
					if buf, err = a.Seal(buf, len(h), 2, seq); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
