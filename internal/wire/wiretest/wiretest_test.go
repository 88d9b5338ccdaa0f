package wiretest

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The generated types cover every shape the property tests claim to.
func TestTypesCoverShapes(t *testing.T) {
	ts, names := Types(1, 300)
	if len(ts) != 300 || len(names) != 300 {
		t.Fatalf("%d types, %d names", len(ts), len(names))
	}
	var all strings.Builder
	for _, typ := range ts {
		all.WriteString(typ.String())
		all.WriteString("\n")
	}
	for _, want := range []string{
		"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "uintptr", "float32", "float64",
		"string", "bool", "[]uint8", "[4]uint8", "time.Time", "*time.Time", "wiretest.Celsius", "*wiretest.Tree",
		"map[string]", "map[int8]", "map[float64]", "map[[2]int8]", "map[struct {", "[]struct {", "[2]",
		"; *struct {", "; struct {", "wiretest.Base;", "*wiretest.Audit;", // embedded, by value and by pointer
		`msgpack:\",omitempty\"`, `msgpack:\"-\"`, `msgpack:\"k`,
	} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("no generated type has %q", want)
		}
	}
	// The same seed makes the same types, in any process.
	again, _ := Types(1, 300)
	for i := range ts {
		if ts[i] != again[i] {
			t.Fatalf("type %d differs between two calls with the same seed", i)
		}
	}
}

// Diff sees every difference the wire format must not make, and none it
// may.
func TestDiff(t *testing.T) {
	type S struct {
		F    float64
		B    []byte
		M    map[string]int
		P    *int
		Skip int `msgpack:"-"`
		T    time.Time
		*Base
	}
	one := 1
	when := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	base := S{F: 1, B: []byte{}, M: map[string]int{"a": 1}, P: &one, T: when, Base: &Base{ID: 1}}
	for _, tc := range []struct {
		name string
		edit func(*S)
		same bool
	}{
		{"identical", func(*S) {}, true},
		{"time in another location", func(s *S) { s.T = when.Local() }, true},
		{"time without its monotonic reading", func(s *S) { s.T = s.T.Round(0) }, true},
		{"-0 for +0", func(s *S) { s.F = math.Copysign(0, -1) }, false},
		{"NaN for a number", func(s *S) { s.F = math.NaN() }, false},
		{"nil for empty bytes", func(s *S) { s.B = nil }, false},
		{"nil for an empty map", func(s *S) { s.M = nil }, false},
		{"other map value", func(s *S) { s.M = map[string]int{"a": 2} }, false},
		{"nil pointer", func(s *S) { s.P = nil }, false},
		{"a skipped field set", func(s *S) { s.Skip = 1 }, false},
		{"another instant", func(s *S) { s.T = when.Add(1) }, false},
		{"nil embedded pointer", func(s *S) { s.Base = nil }, false},
	} {
		got := base
		tc.edit(&got)
		if d := Diff(&base, &got); (d == "") != tc.same {
			t.Errorf("%s: Diff = %q, want same=%v", tc.name, d, tc.same)
		}
	}
	nan := S{F: math.NaN()}
	if d := Diff(nan, nan); d != "" {
		t.Errorf("NaN differs from NaN: %s", d)
	}
}

// Values of a type are drawn from its extremes.
func TestValueExtremes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[any]bool{}
	for range 2000 {
		seen[Value(r, reflect.TypeFor[int16]()).Interface()] = true
		f := Value(r, reflect.TypeFor[float64]()).Float()
		switch {
		case math.IsNaN(f):
			seen["NaN"] = true
		case math.Signbit(f) && f == 0:
			seen["-0"] = true
		}
		if Value(r, reflect.TypeFor[[]int]()).IsNil() {
			seen["nil slice"] = true
		} else {
			seen["slice"] = true
		}
	}
	for _, want := range []any{int16(math.MinInt16), int16(math.MaxInt16), int16(0), int16(-1), "NaN", "-0", "nil slice", "slice"} {
		if !seen[want] {
			t.Errorf("never drew %v", want)
		}
	}
}
