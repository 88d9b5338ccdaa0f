package shm

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkRingPushPop measures one push and one pop in the same goroutine:
// the ring's own work per record, without cross-core traffic.
func BenchmarkRingPushPop(b *testing.B) {
	for _, size := range []int{64, 1024, 4096} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			d := openTestDir(b)
			r := newTestRing(b, d, RingConfig{})
			msg := make([]byte, size)
			buf := make([]byte, 0, size)
			ctx := context.Background()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var err error
			for b.Loop() {
				if err = r.Push(ctx, msg); err != nil {
					b.Fatal(err)
				}
				if buf, err = r.Pop(ctx, buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkRingBatch fills the ring with 256 records, then drains them with
// PopBatch: the per-record cost when work is batched.
func BenchmarkRingBatch(b *testing.B) {
	d := openTestDir(b)
	r := newTestRing(b, d, RingConfig{})
	msg := make([]byte, 64)
	ctx := context.Background()
	b.SetBytes(64)
	b.ReportAllocs()
	for b.Loop() {
		for range 256 {
			if err := r.TryPush(msg); err != nil {
				b.Fatal(err)
			}
		}
		for got := 0; got < 256; {
			n, err := r.PopBatch(ctx, 256, func([]byte) {})
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
	b.ReportMetric(float64(b.N*256)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkAtomicCost measures one atomic operation on a word of mapped
// memory, uncontended: the unit cost behind the ring's per-record budget.
func BenchmarkAtomicCost(b *testing.B) {
	d := openTestDir(b)
	s, err := d.CreateSegment("atomics", KindUser, 64, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	w, _ := s.Word64(0)
	var sink uint64
	for _, c := range []struct {
		name string
		op   func()
	}{
		{"load", func() { sink += w.Load() }},
		{"store", func() { w.Store(sink); sink++ }},
		{"add", func() { w.Add(1) }},
		{"cas", func() { v := w.Load(); w.CompareAndSwap(v, v+1) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				c.op()
			}
		})
	}
}
