package wire

import (
	"fmt"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
)

// Registration checks. A registered type promises that every value of it
// arrives in the other process as it was sent: decode(encode(x)) equals x.
// checkType walks a type before it is registered and refuses anything that
// would break that promise, naming the field and the reason, so the
// mistake shows when the program starts instead of as a wrong value (or a
// dropped message) in another process. docs/wire-format.md ("Which Go
// types cross") lists the rules; each refusal below says why in its
// message.

var (
	protoMessageType = reflect.TypeFor[proto.Message]()
	timeType         = reflect.TypeFor[time.Time]()
	fileType         = reflect.TypeFor[*os.File]()
)

// isProto reports a protobuf message type: a pointer to a generated struct
// implementing proto.Message. Its values travel as proto.Marshal's bytes.
func isProto(t reflect.Type) bool {
	return t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && t.Implements(protoMessageType)
}

// checker walks one type being registered.
type checker struct {
	root reflect.Type
	done map[checkKey]bool // checked, or being checked (recursive types)
}

type checkKey struct {
	t   reflect.Type
	key bool // as (part of) a map key, where stricter rules apply
}

// checkType returns a *TypeError if some value of t would not arrive as it
// was sent.
func checkType(t reflect.Type) error {
	c := &checker{root: t, done: map[checkKey]bool{}}
	if t.Kind() == reflect.Interface {
		return c.fail("", t, "an interface type cannot be registered: register the concrete types that are sent")
	}
	return c.check(t, "", false)
}

func (c *checker) fail(path string, t reflect.Type, format string, args ...any) error {
	return &TypeError{Type: c.root, Field: path, FieldType: t, Reason: fmt.Sprintf(format, args...)}
}

// check checks t, found at path (a Go expression relative to the
// registered type: "Items[].Owner", "Index[key]").
func (c *checker) check(t reflect.Type, path string, key bool) error {
	k := checkKey{t, key}
	if c.done[k] {
		return nil
	}
	c.done[k] = true
	if err := c.promoted(t, path); err != nil {
		return err
	}
	switch {
	case t == fileType:
		if key {
			return c.fail(path, t, "a file as a map key compares by address, which does not cross processes")
		}
		return nil // the descriptor crosses beside the envelope (Encoder.Files)
	case isProto(t):
		if key {
			return c.fail(path, t, "a pointer map key compares by address, which does not cross processes")
		}
		return nil
	case t.Kind() == reflect.Struct && reflect.PointerTo(t).Implements(protoMessageType):
		return c.fail(path, t, "a protobuf message is used by pointer (copying one copies its internal state): use *%v", t)
	case t == timeType && key:
		return c.fail(path, t, "a time.Time map key compares its location and monotonic reading, which do not cross processes: use Unix nanoseconds or a string")
	case t.Kind() == reflect.Pointer && key:
		return c.fail(path, t, "a pointer map key compares by address, which does not cross processes")
	case custom(t):
		return c.customPair(t, path)
	}
	switch t.Kind() {
	case reflect.Chan:
		return c.fail(path, t, "a channel belongs to this process and cannot cross to another")
	case reflect.Func:
		return c.fail(path, t, "a function belongs to this process and cannot cross to another")
	case reflect.UnsafePointer:
		return c.fail(path, t, "an unsafe.Pointer is an address in this process and means nothing in another")
	case reflect.Complex64, reflect.Complex128:
		return c.fail(path, t, "msgpack has no complex numbers: use two float fields for the real and imaginary parts")
	case reflect.Interface:
		return c.fail(path, t, "an interface cannot make the trip: the receiver cannot tell which concrete type to make "+
			"(a *T would arrive as a map, 42 as an int8): use a concrete type, or one field per type")
	case reflect.Pointer:
		if what, ok := map[reflect.Kind]string{reflect.Pointer: "pointer", reflect.Slice: "slice", reflect.Map: "map"}[t.Elem().Kind()]; ok {
			return c.fail(path, t, "a pointer to a %s: a non-nil pointer to a nil %s would arrive as a nil pointer; drop one level", what, what)
		}
		return c.check(t.Elem(), path, key)
	case reflect.Slice, reflect.Array:
		return c.check(t.Elem(), path+"[]", key)
	case reflect.Map:
		if err := c.check(t.Key(), path+"[key]", true); err != nil {
			return err
		}
		return c.check(t.Elem(), path+"[]", key)
	case reflect.Struct:
		fields, err := layout(t, nil)
		if err != nil {
			return c.fail(join(path, err.path), err.typ, "%s", err.reason)
		}
		if key {
			if f, ok := skippedField(t); ok {
				return c.fail(join(path, f.Name), f.Type, "a map key's field tagged `msgpack:\"-\"` would arrive zero, and keys that differ only there would become one")
			}
			for _, f := range fields {
				if behindPointer(f) {
					return c.fail(join(path, f.goPath), f.typ, "it is inside an embedded pointer, and a pointer map key compares by address, which does not cross processes")
				}
			}
		}
		for _, f := range fields {
			if err := c.check(f.typ, join(path, f.goPath), key); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, field string) string {
	if path == "" || field == "" {
		return path + field
	}
	return path + "." + field
}

// The interfaces msgpack/v5 encodes and decodes a type by, in the order it
// looks for them (on T, then on *T).
var (
	encoderIfaces = []reflect.Type{customEncoder, marshaler, binMarshaler, textMarshaler}
	decoderIfaces = []reflect.Type{customDecoder, unmarshaler, binUnmarshaler, textUnmarshaler}
)

// firstImpl returns the index of the first of ifaces that t implements,
// looking at T's methods before *T's as msgpack/v5 does, or -1.
func firstImpl(t reflect.Type, ifaces []reflect.Type) int {
	for i, x := range ifaces {
		if t.Implements(x) {
			return i
		}
	}
	if t.Kind() != reflect.Pointer {
		for i, x := range ifaces {
			if reflect.PointerTo(t).Implements(x) {
				return i
			}
		}
	}
	return -1
}

// customPair checks that a type with its own encoding decodes with the
// matching method: what MarshalBinary writes, UnmarshalBinary must read.
// Whether the methods themselves round-trip is the type's own contract.
func (c *checker) customPair(t reflect.Type, path string) error {
	if t == timeType || t.Kind() == reflect.Pointer && t.Elem() == timeType {
		return nil // msgpack's timestamp extension, not its methods
	}
	enc, dec := firstImpl(t, encoderIfaces), firstImpl(t, decoderIfaces)
	switch {
	case enc == dec:
		return nil
	case dec < 0:
		return c.fail(path, t, "it implements %v but not %v, so the receiver could not read what the sender writes", encoderIfaces[enc], decoderIfaces[enc])
	case enc < 0:
		return c.fail(path, t, "it implements %v but not %v, so the sender would not write what the receiver reads", decoderIfaces[dec], encoderIfaces[dec])
	}
	return c.fail(path, t, "it is written with %v but read with %v, which expect different bytes; implement %v", encoderIfaces[enc], decoderIfaces[dec], decoderIfaces[enc])
}

// promoted refuses a struct that has an encoding method only because an
// embedded field has it: msgpack (or protobuf) would then encode the struct
// by that method, and only the embedded field would cross. The classic is
// struct{ time.Time; Name string }, whose MarshalBinary is time.Time's.
func (c *checker) promoted(t reflect.Type, path string) error {
	base := t
	if base.Kind() == reflect.Pointer {
		base = base.Elem()
	}
	if base.Kind() != reflect.Struct || !hasEmbedded(base) {
		return nil
	}
	// The interfaces the type would be encoded and decoded by.
	var used []reflect.Type
	if reflect.PointerTo(base).Implements(protoMessageType) {
		used = append(used, protoMessageType)
	}
	if i := firstImpl(t, encoderIfaces); i >= 0 {
		used = append(used, encoderIfaces[i])
	}
	if i := firstImpl(t, decoderIfaces); i >= 0 {
		used = append(used, decoderIfaces[i])
	}
	for _, iface := range used {
		for i := range iface.NumMethod() {
			name := iface.Method(i).Name
			if !promotedMethod(base, name) {
				continue
			}
			from := "an embedded field"
			for j := range base.NumField() {
				if f := base.Field(j); f.Anonymous {
					ft := f.Type
					if ft.Kind() != reflect.Pointer {
						ft = reflect.PointerTo(ft)
					}
					if _, ok := ft.MethodByName(name); ok {
						from = fmt.Sprintf("its embedded field %s (%v)", f.Name, f.Type)
						break
					}
				}
			}
			return c.fail(path, t, "%v gets %s from %s, so only that field would cross: give the embedded field a name, or give %v its own %s", base, name, from, base, name)
		}
	}
	return nil
}

func hasEmbedded(t reflect.Type) bool {
	for i := range t.NumField() {
		if t.Field(i).Anonymous {
			return true
		}
	}
	return false
}

// promotedMethod reports whether struct type t's method name is promoted
// from an embedded field rather than declared on t or *t. The compiler
// generates a wrapper for each promoted method, and reflect reaches the
// wrapper, whose position is "<autogenerated>"; a method declared in
// source has a file. (A value method reached through *t is a wrapper too,
// so t's own method set is looked at first.)
func promotedMethod(t reflect.Type, name string) bool {
	for _, recv := range []reflect.Type{t, reflect.PointerTo(t)} {
		if m, ok := recv.MethodByName(name); ok {
			pc := m.Func.Pointer()
			fn := runtime.FuncForPC(pc)
			if fn == nil {
				return false
			}
			file, _ := fn.FileLine(pc)
			return file == "<autogenerated>"
		}
	}
	return false
}

// fieldInfo is one field of a struct as it goes on the wire: a field of
// the struct itself, or of an embedded struct, whose fields are inlined
// the way msgpack/v5 inlines them.
type fieldInfo struct {
	name      string      // key on the wire
	goPath    string      // Go selector, for messages: "Account.Balance"
	via       []embedStep // embedded structs on the way, outermost first
	index     int         // field index in the innermost struct
	omitEmpty bool
	typ       reflect.Type
}

// embedStep is an embedded struct field whose fields are inlined.
type embedStep struct {
	index int
	ptr   bool // embedded by pointer: nil means none of its fields is written
}

// layoutError says which field of a struct cannot be laid out, and why.
type layoutError struct {
	path   string
	typ    reflect.Type
	reason string
}

// layout returns the fields of struct t as they are encoded: exported
// fields not tagged `msgpack:"-"`, keyed by their tag name or Go name, with
// the fields of embedded structs inlined. It refuses unexported fields
// (they would arrive zero), tag options it does not implement, and keys
// that two fields share. inlining holds the embedded structs being
// inlined, to refuse a struct that embeds itself through a pointer.
func layout(t reflect.Type, inlining []reflect.Type) ([]fieldInfo, *layoutError) {
	var fields []fieldInfo
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("msgpack"), ",")
		if name == "-" || f.Name == "_" {
			continue // left out on purpose; "_" is padding no one reads
		}
		if f.Name == "_msgpack" {
			return nil, &layoutError{f.Name, f.Type, "struct-wide msgpack options (_msgpack) are not supported"}
		}
		var omit, noinline bool
		for o := range strings.SplitSeq(opts, ",") {
			switch o {
			case "":
			case "omitempty":
				omit = true
			case "inline": // what embedding does anyway
			case "noinline":
				noinline = true
			default:
				return nil, &layoutError{f.Name, f.Type, fmt.Sprintf("tag option %q is not supported (only omitempty, inline and noinline are)", o)}
			}
		}
		if f.Anonymous && !noinline {
			et, ptr := f.Type, false
			if et.Kind() == reflect.Pointer {
				et, ptr = et.Elem(), true
			}
			if et.Kind() == reflect.Struct && !custom(et) && !isProto(reflect.PointerTo(et)) {
				sub, err := inlined(f, et, ptr, append(inlining, t))
				if err != nil {
					return nil, err
				}
				for _, s := range sub {
					s.via = append([]embedStep{{i, ptr}}, s.via...)
					s.goPath = f.Name + "." + s.goPath
					fields = append(fields, s)
				}
				continue
			}
		}
		if !f.IsExported() {
			return nil, &layoutError{f.Name, f.Type, "unexported fields do not cross, so it would arrive zero: export it, or tag it (or the field holding it) `msgpack:\"-\"` to leave it out on purpose"}
		}
		if name == "" {
			name = f.Name
		}
		fields = append(fields, fieldInfo{name: name, goPath: f.Name, index: i, omitEmpty: omit, typ: f.Type})
	}
	seen := map[string]fieldInfo{}
	for _, f := range fields {
		if other, dup := seen[f.name]; dup {
			how := "rename one with a msgpack tag"
			if len(f.via)+len(other.via) > 0 {
				how += ", or tag the embedded field `msgpack:\",noinline\"` to send it as one field"
			}
			return nil, &layoutError{f.goPath, f.typ, fmt.Sprintf("it and %s both encode as %q: %s", other.goPath, f.name, how)}
		}
		seen[f.name] = f
	}
	return fields, nil
}

// inlined lays out the fields of embedded struct et, embedded as field f
// (by pointer if ptr).
func inlined(f reflect.StructField, et reflect.Type, ptr bool, inlining []reflect.Type) ([]fieldInfo, *layoutError) {
	if slices.Contains(inlining, et) {
		return nil, &layoutError{f.Name, f.Type, "a struct that embeds itself cannot be inlined: tag the field `msgpack:\",noinline\"`"}
	}
	if ptr && !f.IsExported() {
		return nil, &layoutError{f.Name, f.Type, "an embedded pointer to an unexported type cannot be allocated by the receiver: export the type, embed it by value, or tag the field `msgpack:\"-\"`"}
	}
	sub, err := layout(et, inlining)
	if err != nil {
		err.path = f.Name + "." + err.path
		return nil, err
	}
	if ptr && !slices.ContainsFunc(sub, alwaysWritten) {
		// A non-nil embedded pointer is told from a nil one by its fields
		// on the wire; with none that is always written, both look alike.
		return nil, &layoutError{f.Name, f.Type, "a set embedded pointer is known by its fields, and this one has none that is always written (each is omitempty or inside another embedded pointer), so it could arrive nil: tag it `msgpack:\",noinline\"` to send it as one field"}
	}
	return sub, nil
}

// alwaysWritten reports a field written whenever the struct holding it is:
// not omitempty, and not inside an embedded pointer.
func alwaysWritten(f fieldInfo) bool { return !f.omitEmpty && !behindPointer(f) }

// behindPointer reports a field inlined from an embedded pointer.
func behindPointer(f fieldInfo) bool {
	return slices.ContainsFunc(f.via, func(e embedStep) bool { return e.ptr })
}

// skippedField returns the first field of struct t (or of a struct it
// embeds) tagged `msgpack:"-"`, its Name the path to it.
func skippedField(t reflect.Type) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "_" {
			continue // blank fields do not take part in ==
		}
		if name, _, _ := strings.Cut(f.Tag.Get("msgpack"), ","); name == "-" {
			return f, true
		}
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			if s, ok := skippedField(f.Type); ok {
				s.Name = f.Name + "." + s.Name
				return s, true
			}
		}
	}
	return reflect.StructField{}, false
}
