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
