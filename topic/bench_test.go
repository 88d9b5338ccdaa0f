package topic

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
)

// BenchmarkPublish measures a publication: on a subject nobody
// subscribes to, to subscribers in the publishing process, and to a
// subscriber on another node (two nodes of one process), until the last
// one is delivered.
func BenchmarkPublish(b *testing.B) {
	b.Run("no-subscribers", func(b *testing.B) {
		root := testproc.TempDir(b)
		a := joinT(b, root, "bench")
		if _, err := SubscribeFunc(a, "other.subject", func(string, any) {}); err != nil {
			b.Fatal(err)
		}
		msg := &Note{Text: "x"}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if err := Publish(a, "orders.eu.created", msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, tc := range []struct {
		name   string
		remote bool
		subs   int
	}{{"local/1", false, 1}, {"local/4", false, 4}, {"other-node/1", true, 1}, {"other-node/4", true, 4}} {
		b.Run(tc.name, func(b *testing.B) {
			root := testproc.TempDir(b)
			a := joinT(b, root, "bench")
			s := a
			if tc.remote {
				s = joinT(b, root, "bench")
			}
			var got atomic.Int64
			for range tc.subs {
				if _, err := SubscribeFunc(s, "orders.*.created", func(string, any) { got.Add(1) }); err != nil {
					b.Fatal(err)
				}
			}
			msg := &Note{Text: "0123456789012345678901234567890123456789"}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			n := 0
			for b.Loop() {
				if err := Publish(a, "orders.eu.created", msg); err != nil {
					b.Fatal(err)
				}
				n++
			}
			want := int64(n * tc.subs)
			for got.Load() < want {
				time.Sleep(50 * time.Microsecond)
			}
			b.ReportMetric(float64(want)/time.Since(start).Seconds(), "deliveries/s")
		})
	}
}
