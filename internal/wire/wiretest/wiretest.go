package wiretest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
)

// Named types the generator draws on: what reflect.StructOf cannot make
// (named scalars, a recursive type) and named structs to embed.
type (
	Celsius float32
	Code    uint16
	Label   string
	Base    struct {
		ID   int64
		Tags []string
	}
	Audit struct {
		By string
		At time.Time
	}
	Tree struct {
		Name string
		Kids []*Tree
		Next *Tree `msgpack:",omitempty"`
	}
)

var (
	timeType  = reflect.TypeFor[time.Time]()
	protoType = reflect.TypeFor[proto.Message]()
	bytesType = reflect.TypeFor[[]byte]()
)

// maxTypeDepth bounds the nesting of generated types.
const maxTypeDepth = 3

// Types returns n types generated from seed and the names to register
// them under: structs and pointers to structs, whose fields are scalars
// of every kind and width, strings, byte slices and arrays, time.Time,
// pointers, slices, arrays, maps with keys of several kinds, nested and
// embedded structs (by value and by pointer), a recursive type, and tags
// that rename, omit empty values and leave fields out.
func Types(seed uint64, n int) ([]reflect.Type, []string) {
	g := &typeGen{r: rand.New(rand.NewPCG(seed, 0x5eed))}
	types, names := make([]reflect.Type, 0, n), make([]string, 0, n)
	seen := map[reflect.Type]bool{}
	for len(types) < n {
		g.next = 0
		t := g.structType(0, map[string]bool{})
		if g.r.IntN(2) == 0 {
			t = reflect.PointerTo(t)
		}
		if seen[t] {
			continue // a type registers under one name only
		}
		seen[t] = true
		types, names = append(types, t), append(names, fmt.Sprintf("wiretest.%d.%d", seed, len(names)))
	}
	return types, names
}

type typeGen struct {
	r    *rand.Rand
	next int // field-name counter: names are unique within a top-level type
}

func (g *typeGen) name(prefix string) string {
	g.next++
	return fmt.Sprintf("%s%d", prefix, g.next)
}

// structType makes a struct. inline holds the named structs embedded in
// the struct whose fields this one's are inlined into, so none is
// embedded twice there. The first field is always written (no
// omitempty, no "-"), so the struct can be embedded by pointer.
func (g *typeGen) structType(depth int, inline map[string]bool) reflect.Type {
	var fields []reflect.StructField
	for i := range 1 + g.r.IntN(5) {
		switch c := g.r.IntN(12); {
		case i > 0 && c == 0 && depth < maxTypeDepth:
			sub := g.structType(depth+1, inline)
			if g.r.IntN(2) == 0 {
				sub = reflect.PointerTo(sub)
			}
			fields = append(fields, reflect.StructField{Name: g.name("E"), Type: sub, Anonymous: true})
		case i > 0 && c == 1:
			named := []reflect.Type{reflect.TypeFor[Base](), reflect.TypeFor[Audit]()}[g.r.IntN(2)]
			if inline[named.Name()] {
				continue
			}
			inline[named.Name()] = true
			name := named.Name()
			if g.r.IntN(2) == 0 {
				named = reflect.PointerTo(named)
			}
			fields = append(fields, reflect.StructField{Name: name, Type: named, Anonymous: true})
		default:
			f := reflect.StructField{Name: g.name("F"), Type: g.fieldType(depth)}
			tag := ""
			switch k := g.r.IntN(10); {
			case k == 6 || i == 0 && k > 6:
				tag = g.name("k")
			case k == 7:
				tag = ",omitempty"
			case k == 8:
				tag = g.name("k") + ",omitempty"
			case k == 9:
				tag = "-"
			}
			if tag != "" {
				f.Tag = reflect.StructTag(fmt.Sprintf("msgpack:%q", tag))
			}
			fields = append(fields, f)
		}
	}
	return reflect.StructOf(fields)
}

var scalars = []reflect.Type{
	reflect.TypeFor[bool](),
	reflect.TypeFor[int](), reflect.TypeFor[int8](), reflect.TypeFor[int16](), reflect.TypeFor[int32](), reflect.TypeFor[int64](),
	reflect.TypeFor[uint](), reflect.TypeFor[uint8](), reflect.TypeFor[uint16](), reflect.TypeFor[uint32](), reflect.TypeFor[uint64](), reflect.TypeFor[uintptr](),
	reflect.TypeFor[float32](), reflect.TypeFor[float64](),
	reflect.TypeFor[string](),
	reflect.TypeFor[Celsius](), reflect.TypeFor[Code](), reflect.TypeFor[Label](),
	reflect.TypeFor[time.Duration](),
}

// fieldType makes the type of a field (or element).
func (g *typeGen) fieldType(depth int) reflect.Type {
	leaf := func() reflect.Type {
		switch g.r.IntN(8) {
		case 0:
			return bytesType
		case 1:
			return reflect.TypeFor[[4]byte]()
		case 2:
			return timeType
		}
		return scalars[g.r.IntN(len(scalars))]
	}
	if depth >= maxTypeDepth {
		return leaf()
	}
	switch g.r.IntN(12) {
	case 0:
		return g.structType(depth+1, map[string]bool{})
	case 1:
		// A pointer to something that is never nil itself: a pointer to a
		// nil slice, map or pointer would arrive as a nil pointer.
		switch g.r.IntN(4) {
		case 0:
			return reflect.PointerTo(g.structType(depth+1, map[string]bool{}))
		case 1:
			return reflect.TypeFor[*time.Time]()
		}
		return reflect.PointerTo(scalars[g.r.IntN(len(scalars))])
	case 2:
		return reflect.SliceOf(g.fieldType(depth + 1))
	case 3:
		return reflect.ArrayOf(g.r.IntN(4), g.fieldType(depth+1))
	case 4:
		return reflect.MapOf(g.keyType(), g.fieldType(depth+1))
	case 5:
		return reflect.TypeFor[*Tree]()
	}
	return leaf()
}

var keyTypes = []reflect.Type{
	reflect.TypeFor[string](), reflect.TypeFor[int8](), reflect.TypeFor[int64](), reflect.TypeFor[uint32](),
	reflect.TypeFor[bool](), reflect.TypeFor[float64](), reflect.TypeFor[Label](), reflect.TypeFor[Code](),
	reflect.TypeFor[[2]int8](),
	reflect.TypeFor[struct {
		A int16
		B string
	}](),
}

func (g *typeGen) keyType() reflect.Type { return keyTypes[g.r.IntN(len(keyTypes))] }

// maxValueDepth bounds the nesting of generated values of recursive types.
const maxValueDepth = 6

// Value returns a value of t drawn from r, with extremes more often than
// chance would give them: integer limits, NaN, infinities and -0, empty,
// long, non-ASCII and invalid UTF-8 strings, nil and empty slices and
// maps, nil pointers, the zero time and times far from now.
func Value(r *rand.Rand, t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	fill(r, v, 0)
	return v
}

func fill(r *rand.Rand, v reflect.Value, depth int) {
	t := v.Type()
	switch t.Kind() {
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := t.Bits()
		lo, hi := int64(-1)<<(bits-1), int64(uint64(1)<<(bits-1)-1)
		v.SetInt([]int64{0, 1, -1, lo, hi, lo + 1, hi - 1, -32, -33, 127, 128, r.Int64() >> (64 - bits)}[r.IntN(12)])
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		hi := uint64(math.MaxUint64) >> (64 - t.Bits())
		v.SetUint([]uint64{0, 1, hi, hi - 1, 127, 128, 255, 256, r.Uint64() & hi}[r.IntN(9)])
	case reflect.Float32:
		v.SetFloat(float64([]float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)),
			math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32, 1.5, r.Float32()*1e6 - 5e5}[r.IntN(10)]))
	case reflect.Float64:
		v.SetFloat([]float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1),
			math.SmallestNonzeroFloat64, math.MaxFloat64, -math.MaxFloat64, 0.1, r.NormFloat64() * 1e9}[r.IntN(10)])
	case reflect.String:
		v.SetString(pickString(r))
	case reflect.Slice:
		if depth > maxValueDepth {
			return // nil
		}
		switch r.IntN(4) {
		case 0: // nil
		case 1:
			v.Set(reflect.MakeSlice(t, 0, 0))
		default:
			n := 1 + r.IntN(3)
			if t == bytesType && r.IntN(2) == 0 {
				n = 300
			}
			v.Set(reflect.MakeSlice(t, n, n))
			for i := range n {
				fill(r, v.Index(i), depth+1)
			}
		}
	case reflect.Array:
		for i := range v.Len() {
			fill(r, v.Index(i), depth+1)
		}
	case reflect.Map:
		if depth > maxValueDepth {
			return
		}
		switch r.IntN(4) {
		case 0: // nil
		case 1:
			v.Set(reflect.MakeMap(t))
		default:
			v.Set(reflect.MakeMap(t))
			for range 1 + r.IntN(3) {
				k, e := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
				fill(r, k, depth+1)
				if k.Kind() == reflect.Float64 && math.IsNaN(k.Float()) {
					k.SetFloat(2) // a NaN key cannot be looked up, here or there
				}
				fill(r, e, depth+1)
				v.SetMapIndex(k, e)
			}
		}
	case reflect.Pointer:
		if depth > maxValueDepth || r.IntN(3) == 0 {
			return // nil
		}
		v.Set(reflect.New(t.Elem()))
		fill(r, v.Elem(), depth+1)
	case reflect.Struct:
		if t == timeType {
			v.Set(reflect.ValueOf(pickTime(r)))
			return
		}
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				fill(r, v.Field(i), depth+1)
			}
		}
	}
}

var strs = []string{
	"", "a", "héllo, wörld", "日本語のテキスト", "emoji 🎉🚀", "nul\x00inside", "\xff\xfe not UTF-8",
	strings.Repeat("x", 31), strings.Repeat("y", 32), strings.Repeat("long ", 60), strings.Repeat("é", 40000),
}

func pickString(r *rand.Rand) string {
	if r.IntN(4) == 0 {
		return fmt.Sprintf("s%d", r.Uint32())
	}
	s := strs[r.IntN(len(strs))]
	if len(s) > 1000 && r.IntN(4) != 0 {
		return "z" // keep most values small
	}
	return s
}

func pickTime(r *rand.Rand) time.Time {
	switch r.IntN(8) {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, 0)
	case 2:
		return time.Unix(-1, 999_999_999) // before 1970, with nanoseconds
	case 3:
		return time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC) // not zero, by a nanosecond
	case 4:
		return time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.FixedZone("east", 5*3600))
	case 5:
		return time.Now() // with a monotonic reading
	case 6:
		return time.Unix(1<<34, 1) // past the 8-byte timestamp form
	}
	return time.Unix(r.Int64N(1<<40)-1<<39, r.Int64N(1e9)).UTC()
}

// Diff returns "" if got is what the wire format promises for a sent
// want, else where and how they differ.
func Diff(want, got any) string {
	return diff(reflect.ValueOf(want), reflect.ValueOf(got), "value", 0)
}

func diff(w, g reflect.Value, path string, depth int) string {
	if w.IsValid() != g.IsValid() {
		return fmt.Sprintf("%s: got %v, want %v", path, g, w)
	}
	if !w.IsValid() {
		return ""
	}
	if w.Type() != g.Type() {
		return fmt.Sprintf("%s: got type %v, want %v", path, g.Type(), w.Type())
	}
	if depth > 200 {
		return path + ": too deep to compare"
	}
	t := w.Type()
	if t.Kind() == reflect.Pointer && t.Implements(protoType) && w.CanInterface() {
		if w.IsNil() != g.IsNil() || !w.IsNil() && !proto.Equal(w.Interface().(proto.Message), g.Interface().(proto.Message)) {
			return fmt.Sprintf("%s: got %v, want %v (proto.Equal)", path, g, w)
		}
		return ""
	}
	if t == timeType && w.CanInterface() {
		wt, gt := w.Interface().(time.Time), g.Interface().(time.Time)
		if !wt.Equal(gt) {
			return fmt.Sprintf("%s: got time %v, want %v", path, gt, wt)
		}
		return ""
	}
	switch t.Kind() {
	case reflect.Bool:
		if w.Bool() != g.Bool() {
			return fmt.Sprintf("%s: got %v, want %v", path, g.Bool(), w.Bool())
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if w.Int() != g.Int() {
			return fmt.Sprintf("%s: got %d, want %d", path, g.Int(), w.Int())
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if w.Uint() != g.Uint() {
			return fmt.Sprintf("%s: got %d, want %d", path, g.Uint(), w.Uint())
		}
	case reflect.Float32, reflect.Float64:
		wf, gf := w.Float(), g.Float()
		if math.IsNaN(wf) && math.IsNaN(gf) {
			return ""
		}
		if math.Float64bits(wf) != math.Float64bits(gf) {
			return fmt.Sprintf("%s: got %v, want %v (sign %v, %v)", path, gf, wf, math.Signbit(gf), math.Signbit(wf))
		}
	case reflect.String:
		if w.String() != g.String() {
			return fmt.Sprintf("%s: got %.40q, want %.40q", path, g.String(), w.String())
		}
	case reflect.Pointer, reflect.Interface:
		if w.IsNil() != g.IsNil() {
			return fmt.Sprintf("%s: got nil=%v, want nil=%v", path, g.IsNil(), w.IsNil())
		}
		if !w.IsNil() {
			return diff(w.Elem(), g.Elem(), "(*"+path+")", depth+1)
		}
	case reflect.Slice:
		if w.IsNil() != g.IsNil() {
			return fmt.Sprintf("%s: got nil=%v, want nil=%v (len %d, %d)", path, g.IsNil(), w.IsNil(), g.Len(), w.Len())
		}
		fallthrough
	case reflect.Array:
		if w.Len() != g.Len() {
			return fmt.Sprintf("%s: got len %d, want %d", path, g.Len(), w.Len())
		}
		for i := range w.Len() {
			if d := diff(w.Index(i), g.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1); d != "" {
				return d
			}
		}
	case reflect.Map:
		if w.IsNil() != g.IsNil() {
			return fmt.Sprintf("%s: got nil=%v, want nil=%v", path, g.IsNil(), w.IsNil())
		}
		if w.Len() != g.Len() {
			return fmt.Sprintf("%s: got len %d, want %d", path, g.Len(), w.Len())
		}
		for it := w.MapRange(); it.Next(); {
			gv := g.MapIndex(it.Key())
			if !gv.IsValid() {
				return fmt.Sprintf("%s: key %v missing", path, it.Key())
			}
			if d := diff(it.Value(), gv, fmt.Sprintf("%s[%v]", path, it.Key()), depth+1); d != "" {
				return d
			}
		}
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			fpath := path + "." + f.Name
			if name, _, _ := strings.Cut(f.Tag.Get("msgpack"), ","); name == "-" {
				if !g.Field(i).IsZero() {
					return fmt.Sprintf("%s: tagged \"-\", got %v, want it zero", fpath, g.Field(i))
				}
				continue
			}
			if !f.IsExported() && !f.Anonymous {
				continue // only "-" fields may be unexported, or "_" padding
			}
			if d := diff(w.Field(i), g.Field(i), fpath, depth+1); d != "" {
				return d
			}
		}
	default:
		if !w.Equal(g) {
			return fmt.Sprintf("%s: got %v, want %v", path, g, w)
		}
	}
	return ""
}
