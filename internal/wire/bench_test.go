package wire

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// BenchmarkCodec measures header and payload encoding and decoding alone,
// for a small message and for an order with many line items.
func BenchmarkCodec(b *testing.B) {
	r := testRegistry(b)
	note := "n"
	small := &testOrder{ID: 123456, Customer: "ada", Items: []testItem{{"sku-1", 2, 19.99}}, Total: 19.99, Note: &note}
	big := &testOrder{ID: 1, Customer: "ada"}
	for i := range 200 {
		big.Items = append(big.Items, testItem{fmt.Sprintf("sku-%05d", i), int32(i), 1.5})
	}
	for _, v := range []*testOrder{small, big} {
		name, _ := r.NameOf(v)
		h := Header{Kind: KindUser, From: 1, To: 2, SenderAddress: "shm://bench/1", SenderID: "$7", Target: "orders", Type: name, Seq: 99, Epoch: 1}
		env := AppendHeader(nil, &h)
		env, _ = NewEncoder(r).AppendPayload(env, v)
		b.Run(fmt.Sprintf("encode/%dB", len(env)), func(b *testing.B) {
			e := NewEncoder(r)
			buf := make([]byte, 0, 8192)
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendHeader(buf[:0], &h)
				buf, _ = e.AppendPayload(buf, v)
			}
		})
		b.Run(fmt.Sprintf("decode/%dB", len(env)), func(b *testing.B) {
			d := NewDecoder(r)
			b.ReportAllocs()
			for b.Loop() {
				h, n, err := d.Header(env)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := d.Payload(h.Type, env[n:]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeParts separates header decoding from payload decoding for
// a small message.
func BenchmarkDecodeParts(b *testing.B) {
	r := testRegistry(b)
	v := &testItem{SKU: "sku-1", Qty: 2, Price: 19.99}
	RegisterName[*testItem](r, "item")
	h := Header{Kind: KindUser, Flags: FlagSealed, From: 0x1234567890, To: 0x9876543210, SenderAddress: "shm://bench/1234567890", SenderID: "$7", Target: "orders", Type: "item", Seq: 99999, Epoch: 1}
	env := AppendHeader(nil, &h)
	n := len(env)
	env, _ = NewEncoder(r).AppendPayload(env, v)
	d := NewDecoder(r)
	b.Run(fmt.Sprintf("header/%dB", n), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := d.Header(env); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(fmt.Sprintf("payload/%dB", len(env)-n), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.Payload("item", env[n:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVsMsgpackV5 measures the compiled codec and msgpack/v5's
// Marshal/Unmarshal on the same values, b.N times each in one run, and
// reports both and the speedup.
func BenchmarkVsMsgpackV5(b *testing.B) {
	r := testRegistry(b)
	note := "n"
	small := &testOrder{ID: 123456, Customer: "ada", Items: []testItem{{"sku-1", 2, 19.99}}, Total: 19.99, Note: &note}
	big := &testOrder{ID: 1, Customer: "ada"}
	for i := range 200 {
		big.Items = append(big.Items, testItem{fmt.Sprintf("sku-%05d", i), int32(i), 1.5})
	}
	for _, v := range []*testOrder{small, big} {
		name, _ := r.NameOf(v)
		p, _ := NewEncoder(r).AppendPayload(nil, v)
		e, d, buf := NewEncoder(r), NewDecoder(r), make([]byte, 0, 16384)
		b.Run(fmt.Sprintf("encode/%dB", len(p)), func(b *testing.B) {
			compare(b, func() { buf, _ = e.AppendPayload(buf[:0], v) }, func() { msgpack.Marshal(v) })
		})
		b.Run(fmt.Sprintf("decode/%dB", len(p)), func(b *testing.B) {
			compare(b, func() { d.Payload(name, p) }, func() { msgpack.Unmarshal(p, new(testOrder)) })
		})
	}
}

// compare runs ours and theirs b.N times each and reports both.
func compare(b *testing.B, ours, theirs func()) {
	measure := func(f func()) (ns, allocs float64) {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		t0 := time.Now()
		for range b.N {
			f()
		}
		el := time.Since(t0)
		runtime.ReadMemStats(&m1)
		return float64(el.Nanoseconds()) / float64(b.N), float64(m1.Mallocs-m0.Mallocs) / float64(b.N)
	}
	ns, al := measure(ours)
	vns, val := measure(theirs)
	b.ReportMetric(ns, "ours-ns/op")
	b.ReportMetric(al, "ours-allocs/op")
	b.ReportMetric(vns, "v5-ns/op")
	b.ReportMetric(val, "v5-allocs/op")
	b.ReportMetric(vns/ns, "speedup")
}
