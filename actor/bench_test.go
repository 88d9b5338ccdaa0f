package actor

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/shmactor/shmactor/internal/testproc"
)

// Two nodes in one process: the whole path of a message between nodes
// (encode, seal, ring, pump, open, decode, deliver) without a second
// process. `go run ./bench actor` measures between processes.

func benchPair(b *testing.B, plaintext bool) (from, to *System) {
	b.Helper()
	root := testproc.TempDir(b)
	var opts []Option
	if plaintext {
		opts = append(opts, WithPlaintext())
	}
	return joinT(b, root, "bench", opts...), joinT(b, root, "bench", opts...)
}

func BenchmarkRequestBetweenNodes(b *testing.B) {
	for _, plaintext := range []bool{false, true} {
		for _, size := range []int{64, 4096} {
			b.Run(fmt.Sprintf("%s/%dB", map[bool]string{false: "sealed", true: "plaintext"}[plaintext], size), func(b *testing.B) {
				from, to := benchPair(b, plaintext)
				pid, err := to.SpawnNamed(PropsFromFunc(func(ctx Context) {
					if m, ok := ctx.Message().(*Big); ok {
						ctx.Respond(m)
					}
				}), "echo")
				if err != nil {
					b.Fatal(err)
				}
				pid, err = from.Lookup("echo")
				if err != nil {
					b.Fatal(err)
				}
				msg := &Big{Data: make([]byte, size)}
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					if _, err := from.Root.RequestFuture(pid, msg, 10*time.Second).Result(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

func BenchmarkSendBetweenNodes(b *testing.B) {
	for _, plaintext := range []bool{false, true} {
		b.Run(fmt.Sprintf("%s/64B", map[bool]string{false: "sealed", true: "plaintext"}[plaintext]), func(b *testing.B) {
			from, to := benchPair(b, plaintext)
			var got atomic.Int64
			done := make(chan struct{})
			want := int64(b.N)
			if _, err := to.SpawnNamed(PropsFromFunc(func(ctx Context) {
				if _, ok := ctx.Message().(*Big); ok && got.Add(1) == want {
					close(done)
				}
			}), "sink"); err != nil {
				b.Fatal(err)
			}
			pid, err := from.Lookup("sink")
			if err != nil {
				b.Fatal(err)
			}
			msg := &Big{Data: make([]byte, 64)}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				from.Root.Send(pid, msg)
			}
			<-done
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkRequestMetrics measures what WithMeterProvider costs a 64 B
// request between two nodes: nothing on the path itself (the counters
// exist either way and are read at collection), so "on" should match
// "off" within noise.
func BenchmarkRequestMetrics(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(map[bool]string{false: "off", true: "on"}[on], func(b *testing.B) {
			root := testproc.TempDir(b)
			var opts []Option
			if on {
				reader := sdkmetric.NewManualReader()
				opts = append(opts, WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
			}
			from, to := joinT(b, root, "bench", opts...), joinT(b, root, "bench", opts...)
			if _, err := to.SpawnNamed(PropsFromFunc(func(ctx Context) {
				if m, ok := ctx.Message().(*Big); ok {
					ctx.Respond(m)
				}
			}), "echo"); err != nil {
				b.Fatal(err)
			}
			pid, err := from.Lookup("echo")
			if err != nil {
				b.Fatal(err)
			}
			msg := &Big{Data: make([]byte, 64)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := from.Request(pid, msg, 5*time.Second); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
