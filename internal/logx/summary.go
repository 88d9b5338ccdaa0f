package logx

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
)

// Summarize wraps h so that no log line formats a message: an attribute
// whose value is an arbitrary Go value (slog.KindAny: a payload, a
// dead letter's message) larger than 256 bytes is logged as its type and
// size, "*pkg.T (1073741824 bytes)", and a string attribute longer than
// MaxString bytes is cut. Errors and small values (a PID, a number) keep
// their text. It is what keeps a failed 1 GiB message from becoming a
// 1 GiB log line.
func Summarize(h slog.Handler) slog.Handler { return summary{h} }

// MaxString is the longest string attribute a summarized line keeps.
const MaxString = 1024

type summary struct{ h slog.Handler }

func (s summary) Enabled(ctx context.Context, l slog.Level) bool { return s.h.Enabled(ctx, l) }

func (s summary) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(summarizeAttr(a))
		return true
	})
	return s.h.Handle(ctx, out)
}

func (s summary) WithAttrs(as []slog.Attr) slog.Handler {
	c := make([]slog.Attr, len(as))
	for i, a := range as {
		c[i] = summarizeAttr(a)
	}
	return summary{s.h.WithAttrs(c)}
}

func (s summary) WithGroup(name string) slog.Handler { return summary{s.h.WithGroup(name)} }

func summarizeAttr(a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); len(s) > MaxString {
			return slog.String(a.Key, fmt.Sprintf("%s... (%d bytes)", s[:MaxString], len(s)))
		}
	case slog.KindGroup:
		g := a.Value.Group()
		c := make([]any, len(g))
		for i, x := range g {
			c[i] = summarizeAttr(x)
		}
		return slog.Group(a.Key, c...)
	case slog.KindAny, slog.KindLogValuer:
		v := a.Value.Any()
		if _, isErr := v.(error); isErr || v == nil {
			return a
		}
		if n, ok := sizeOf(reflect.ValueOf(v), 3); ok && n <= smallValue {
			return a // a PID, a number: as cheap to format as to describe
		}
		return slog.String(a.Key, Describe(v))
	}
	return a
}

// smallValue is the size up to which a value is logged as it is.
const smallValue = 256

// Describe returns a value's type and, for bytes, strings, slices, maps
// and structs holding them, its size: the bytes of its byte slices and
// strings and the lengths of its other slices and maps, followed to a
// depth of three, without formatting any of it. It takes microseconds
// whatever the value's size.
func Describe(v any) string {
	if v == nil {
		return "<nil>"
	}
	n, ok := sizeOf(reflect.ValueOf(v), 3)
	if !ok {
		return fmt.Sprintf("%T", v)
	}
	return fmt.Sprintf("%T (%d bytes)", v, n)
}

// sizeOf sums the lengths of the byte slices, strings and arrays in v,
// down to depth levels of pointers, structs (their exported fields: what
// a message encodes), slices and maps (only the
// first 64 elements of a slice or map are looked into; the rest count
// as the first's size). ok is false when it found nothing to measure.
func sizeOf(v reflect.Value, depth int) (n int, ok bool) {
	if depth < 0 || !v.IsValid() {
		return 0, false
	}
	switch v.Kind() {
	case reflect.String:
		return v.Len(), true
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return v.Len(), true
		}
		l := v.Len()
		if l == 0 {
			return 0, true
		}
		sum, k := 0, min(l, 64)
		for i := 0; i < k; i++ {
			s, _ := sizeOf(v.Index(i), depth-1)
			sum += s
		}
		return sum * l / k, true
	case reflect.Map:
		sum, i := 0, 0
		it := v.MapRange()
		for it.Next() && i < 64 {
			ks, _ := sizeOf(it.Key(), depth-1)
			vs, _ := sizeOf(it.Value(), depth-1)
			sum += ks + vs
			i++
		}
		if i == 0 {
			return 0, true
		}
		return sum * v.Len() / i, true
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return 0, true
		}
		return sizeOf(v.Elem(), depth)
	case reflect.Struct:
		sum, any := 0, false
		for i := 0; i < v.NumField(); i++ {
			if !v.Type().Field(i).IsExported() {
				// Another object's live state (protoactor's PID
				// caches its process), read without its lock: a race,
				// and a fatal error when a map in it changes.
				continue
			}
			if s, ok := sizeOf(v.Field(i), depth-1); ok {
				sum, any = sum+s, true
			}
		}
		return sum, any
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return int(v.Type().Size()), true
	}
	return 0, false
}
