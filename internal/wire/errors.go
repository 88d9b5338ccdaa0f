package wire

import (
	"errors"
	"fmt"
	"reflect"
)

// Sentinel errors; the concrete errors returned wrap them with detail.
var (
	// ErrMalformed is returned when bytes are not a well-formed envelope:
	// truncated, the wrong msgpack type where a field is expected, a length
	// past the end of the input, trailing bytes. The error is a
	// *FieldError naming the field.
	ErrMalformed = errors.New("wire: malformed envelope")

	// ErrTooLarge is returned when an envelope, a header string or a
	// payload exceeds its configured maximum.
	ErrTooLarge = errors.New("wire: too large")

	// ErrVersion is returned for an envelope of an unknown major version.
	ErrVersion = errors.New("wire: unsupported envelope version")

	// ErrUnregistered is returned when encoding a value whose type is not
	// registered; the error is an *UnregisteredTypeError.
	ErrUnregistered = errors.New("wire: type not registered")

	// ErrUnknownType is returned when decoding a payload whose type name is
	// not registered; the error is an *UnknownTypeError.
	ErrUnknownType = errors.New("wire: unknown type name")

	// ErrPayload is returned when a payload does not decode into its
	// registered type; the error is a *PayloadError.
	ErrPayload = errors.New("wire: payload does not decode")

	// ErrRegistration is returned by Register when a type or name is
	// already taken, a name cannot be derived, or some value of the type
	// would not arrive as it was sent (then the error is a *TypeError).
	ErrRegistration = errors.New("wire: registration")

	// ErrEncode is returned when a value of a registered type cannot be
	// encoded: it nests deeper than MaxDepth (a cyclic value does), a
	// protobuf message refuses to marshal (invalid UTF-8 in a string
	// field), or a type's own marshaling method fails.
	ErrEncode = errors.New("wire: cannot encode")
)

// FieldError says which header field (or payload position) is malformed.
type FieldError struct {
	Field  string // e.g. "target", "payload"
	Offset int    // byte offset in the envelope
	Reason string
	err    error // ErrMalformed, ErrTooLarge or ErrVersion
}

// Error describes the error.
func (e *FieldError) Error() string {
	return fmt.Sprintf("%v: %s at byte %d: %s", e.err, e.Field, e.Offset, e.Reason)
}

// Unwrap returns the sentinel.
func (e *FieldError) Unwrap() error { return e.err }

// UnregisteredTypeError is returned when encoding a value of a type that
// is not registered.
type UnregisteredTypeError struct {
	Type reflect.Type
	// Refused, if not nil, is why registering Type was refused.
	Refused error
}

// Error describes the error.
func (e *UnregisteredTypeError) Error() string {
	if e.Type == nil {
		return "wire: cannot encode a value of type <nil interface>"
	}
	return fmt.Sprintf("wire: type %v is not registered", e.Type)
}

// Unwrap returns ErrUnregistered.
func (e *UnregisteredTypeError) Unwrap() error { return ErrUnregistered }

// UnknownTypeError is returned when decoding a payload whose type name is
// not registered in this process; callers turn it into a dead letter.
type UnknownTypeError struct{ Name string }

// Error describes the error.
func (e *UnknownTypeError) Error() string {
	return fmt.Sprintf("wire: payload type %q is not registered in this process", e.Name)
}

// Unwrap returns ErrUnknownType.
func (e *UnknownTypeError) Unwrap() error { return ErrUnknownType }

// PayloadError is returned when a payload fails to decode into its type.
type PayloadError struct {
	Name string // the payload's type name
	Err  error
}

// Error describes the error.
func (e *PayloadError) Error() string {
	return fmt.Sprintf("wire: payload of type %q does not decode: %v", e.Name, e.Err)
}

// Unwrap returns ErrPayload and the underlying error.
func (e *PayloadError) Unwrap() []error { return []error{ErrPayload, e.Err} }

// TypeError is returned by Register and RegisterName for a type some of
// whose values would not arrive as they were sent: a channel, a function,
// an interface, an unexported field, ... It names the part of the type at
// fault and says why. It wraps ErrRegistration.
type TypeError struct {
	Type      reflect.Type // the type being registered
	Field     string       // where in Type: "Items[].Owner", "Index[key]"; "" for Type itself
	FieldType reflect.Type // the type found there
	Reason    string
}

// Error describes the error.
func (e *TypeError) Error() string {
	return fmt.Sprintf("%v: %v: %s", ErrRegistration, e.Type, e.Detail())
}

// Detail is the error without the sentinel and the registered type: the
// field, its type and the reason.
func (e *TypeError) Detail() string {
	if e.Field == "" {
		return e.Reason
	}
	return fmt.Sprintf("field %s (%v): %s", e.Field, e.FieldType, e.Reason)
}

// Unwrap returns ErrRegistration.
func (e *TypeError) Unwrap() error { return ErrRegistration }
