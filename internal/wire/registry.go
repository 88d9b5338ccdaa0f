package wire

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
)

// Registry maps message types to stable names and back. Senders encode a
// value under its type's name; receivers decode a payload by looking the
// name up. Both sides must register the same type under the same name.
//
// A Registry is safe for concurrent use; lookups take no lock.
type Registry struct {
	mu     sync.Mutex
	tables atomic.Pointer[typeTables]
	// refused remembers why types were refused at registration (the
	// first maxRefused), so that sending one says why, not only that it
	// is not registered.
	refused sync.Map // reflect.Type → error
	nRef    atomic.Int32
}

const maxRefused = 1024

type typeTables struct {
	byType map[reflect.Type]*regType
	byName map[string]*regType
}

// regType is a registered type: its name and its compiled codec.
type regType struct {
	name  string
	typ   reflect.Type
	codec *codec
	elem  *codec // for pointers walked by reflection, the pointed-to type's codec
}

// Default is the registry the actor and topic layers use unless told
// otherwise.
var Default = NewRegistry()

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{}
	r.tables.Store(&typeTables{byType: map[reflect.Type]*regType{}, byName: map[string]*regType{}})
	return r
}

// Register registers T under its default name: the package path and type
// name ("example.com/shop.Order"), with a leading "*" for a pointer to a
// named type ("*example.com/shop.Order"). The type delivered to receivers
// is exactly T: register *Order to send and receive *Order. Registering
// the same type under the same name again is harmless.
//
// Every value of a registered type arrives as it was sent, so Register
// refuses, with a *TypeError naming the field and the reason, a type that
// holds something that cannot make the trip: a channel, a function, an
// unsafe.Pointer, a complex number, an interface, an unexported field not
// tagged `msgpack:"-"`, a pointer to a pointer, slice or map, a map key
// that compares by address, a protobuf message by value, a marshaler
// without its unmarshaler. Protobuf messages (pointers to types
// implementing proto.Message) are encoded by protobuf itself.
// docs/wire-format.md lists the rules.
func Register[T any](r *Registry) error {
	t := reflect.TypeFor[T]()
	name, ok := DefaultName(t)
	if !ok {
		return fmt.Errorf("%w: type %v has no package-qualified name: use RegisterName", ErrRegistration, t)
	}
	return r.register(t, name)
}

// RegisterName registers T under an explicit name, for unnamed types and
// for names that must stay stable when a type moves between packages.
func RegisterName[T any](r *Registry, name string) error {
	return r.register(reflect.TypeFor[T](), name)
}

// RegisterType registers t under name, like RegisterName, for types known
// only at run time (made by reflect.StructOf, say).
func RegisterType(r *Registry, t reflect.Type, name string) error {
	if t == nil {
		return fmt.Errorf("%w: nil type", ErrRegistration)
	}
	return r.register(t, name)
}

// DefaultName returns the name Register gives t, and false for types
// without a package-qualified name (built-in and unnamed types).
func DefaultName(t reflect.Type) (string, bool) {
	prefix := ""
	if t.Kind() == reflect.Pointer {
		prefix, t = "*", t.Elem()
	}
	if t.Name() == "" || t.PkgPath() == "" {
		return "", false
	}
	return prefix + t.PkgPath() + "." + t.Name(), true
}

func (r *Registry) register(t reflect.Type, name string) error {
	if name == "" || len(name) > MaxString {
		return fmt.Errorf("%w: name %q for %v: want 1 to %d bytes", ErrRegistration, name, t, MaxString)
	}
	if t == reflect.TypeFor[RawMessage]() || t == reflect.TypeFor[*RawMessage]() {
		return fmt.Errorf("%w: RawMessage cannot be registered; it carries its own type name", ErrRegistration)
	}
	if err := checkType(t); err != nil {
		if r.nRef.Load() < maxRefused {
			if _, loaded := r.refused.LoadOrStore(t, err); !loaded {
				r.nRef.Add(1)
			}
		}
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.tables.Load()
	if have, ok := old.byType[t]; ok {
		if have.name == name {
			return nil
		}
		return fmt.Errorf("%w: type %v is already registered as %q, not %q", ErrRegistration, t, have.name, name)
	}
	if have, ok := old.byName[name]; ok {
		return fmt.Errorf("%w: name %q is already taken by type %v", ErrRegistration, name, have.typ)
	}
	rt := &regType{name: name, typ: t, codec: codecFor(t)}
	if t.Kind() == reflect.Pointer && !isProto(t) && !custom(t) {
		rt.elem = codecFor(t.Elem())
	}
	next := &typeTables{byType: make(map[reflect.Type]*regType, len(old.byType)+1), byName: make(map[string]*regType, len(old.byName)+1)}
	for k, v := range old.byType {
		next.byType[k] = v
	}
	for k, v := range old.byName {
		next.byName[k] = v
	}
	next.byType[t], next.byName[name] = rt, rt
	r.tables.Store(next)
	return nil
}

// NameOf returns the registered name of v's type. A *RawMessage reports
// its own type name; a nil interface reports "".
func (r *Registry) NameOf(v any) (string, error) {
	switch m := v.(type) {
	case nil:
		return "", nil
	case *RawMessage:
		return m.Type, nil
	}
	t := reflect.TypeOf(v)
	if rt, ok := r.tables.Load().byType[t]; ok {
		return rt.name, nil
	}
	ue := &UnregisteredTypeError{Type: t}
	if why, ok := r.refused.Load(t); ok {
		ue.Refused = why.(error)
	}
	return "", ue
}

// TypeOf returns the type registered under name.
func (r *Registry) TypeOf(name string) (reflect.Type, bool) {
	rt, ok := r.tables.Load().byName[name]
	if !ok {
		return nil, false
	}
	return rt.typ, true
}

// Len returns the number of registered types.
func (r *Registry) Len() int { return len(r.tables.Load().byName) }

// RawMessage is a payload with its type name, for programs that forward or
// inspect messages whose Go types they do not have (the shmactor command,
// bridges). Encoding a *RawMessage writes Data as the payload unchanged; it
// must be one valid msgpack value.
type RawMessage struct {
	Type string
	Data []byte
}
