package registry

import (
	"fmt"
	"testing"
)

// BenchmarkLookup is a lookup served from the cached view.
func BenchmarkLookup(b *testing.B) {
	r := join(b, testRoot(b), "bench")
	for i := range 1000 {
		if err := r.Register(fmt.Sprint("actor-", i), "$1"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Lookup("actor-500"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRegisterUnregister claims a name and releases it: two file
// operations and two changelog entries.
func BenchmarkRegisterUnregister(b *testing.B) {
	r := join(b, testRoot(b), "bench")
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Register("name", "$1"); err != nil {
			b.Fatal(err)
		}
		if err := r.Unregister("name"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/op")
}
