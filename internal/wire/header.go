package wire

import (
	"fmt"
	"math"
)

// Version is the envelope format version this build writes. Decoders
// accept envelopes of the same major version with extra trailing header
// fields (added by later minor versions), and refuse other majors.
const Version = 1

// Kind says what an envelope carries.
type Kind uint8

// Envelope kinds.
const (
	KindUser    Kind = 1 // a user message to an actor
	KindSystem  Kind = 2 // a system message (watch, terminated, stop, ...)
	KindPublish Kind = 3 // a publication to a topic
	KindControl Kind = 4 // a control message between nodes
	KindBatch   Kind = 5 // a frame carrying one or more envelopes (see package mailbox)
)

// String returns a readable name.
func (k Kind) String() string {
	switch k {
	case KindUser:
		return "user"
	case KindSystem:
		return "system"
	case KindPublish:
		return "publish"
	case KindControl:
		return "control"
	case KindBatch:
		return "batch"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Flags qualify an envelope.
type Flags uint8

// Flags.
const (
	// FlagSealed marks an envelope whose payload is sealed (encrypted and
	// authenticated); without it the payload is plaintext.
	FlagSealed Flags = 1
	// FlagMeta marks an envelope whose payload is preceded by a map of
	// string metadata (protoactor message headers): see AppendStringMap.
	FlagMeta Flags = 2
	// FlagOutOfLine marks an envelope too large for the receiver's inbox:
	// its payload is a Ref to a segment holding the whole envelope.
	FlagOutOfLine Flags = 4
	// FlagBlob, with FlagOutOfLine, marks an envelope that hands over a
	// blob: the Ref is to the blob's own bytes, not to an envelope.
	FlagBlob Flags = 8
)

// Limits on header fields.
const (
	MaxString      = 4096     // longest header string (PID parts, target, type name)
	headerFields   = 12       // fields a version-1 header has
	maxExtraFields = 64       // trailing fields a later minor version may add
	DefaultMax     = 16 << 20 // default largest envelope a Decoder accepts
)

// Header is an envelope's header. Its msgpack encoding is the associated
// data of a sealed envelope: it is authenticated, not encrypted.
type Header struct {
	Kind  Kind
	Flags Flags
	// From and To are the sending and receiving nodes.
	From, To uint64
	// SenderAddress and SenderID are the sender's PID; both may be empty.
	SenderAddress, SenderID string
	// Target is the receiving actor's id, or the topic published to.
	Target string
	// Corr is a correlation id (the request id of a request/reply).
	Corr uint64
	// Type is the registered name of the payload's type ("" for none).
	Type string
	// Seq is the sender's sequence number for this receiver (from 1).
	Seq uint64
	// Epoch is the sender's key epoch.
	Epoch uint32
}

// CheckHeader reports whether a decoder would take h's strings: each of
// at most MaxString bytes. The error wraps ErrTooLarge and names the
// field.
func CheckHeader(h *Header) error {
	for _, f := range [...]struct {
		name, v string
	}{{"sender address", h.SenderAddress}, {"sender id", h.SenderID}, {"target", h.Target}, {"type", h.Type}} {
		if len(f.v) > MaxString {
			return &FieldError{Field: f.name, Reason: fmt.Sprintf("%d bytes, at most %d", len(f.v), MaxString), err: ErrTooLarge}
		}
	}
	return nil
}

// AppendHeader appends the msgpack encoding of h to dst: an array of 12
// elements, version first. It never fails; strings longer than MaxString
// make a header that decoders refuse, so callers check it first
// (CheckHeader).
func AppendHeader(dst []byte, h *Header) []byte {
	dst = appendArrayLen(dst, headerFields)
	dst = append(dst, Version, byte(h.Kind), byte(h.Flags))
	dst = appendUint(dst, h.From)
	dst = appendUint(dst, h.To)
	dst = appendStr(dst, h.SenderAddress)
	dst = appendStr(dst, h.SenderID)
	dst = appendStr(dst, h.Target)
	dst = appendUint(dst, h.Corr)
	dst = appendStr(dst, h.Type)
	dst = appendUint(dst, h.Seq)
	dst = appendUint(dst, uint64(h.Epoch))
	return dst
}

// decodeHeader parses the header at the start of b and returns it with its
// length. Strings go through intern.
func decodeHeader(b []byte, intern func(field int, b []byte) string) (Header, int, error) {
	var h Header
	r := reader{b: b}
	n, err := r.arrayLen("header")
	if err != nil {
		return h, 0, err
	}
	if n < headerFields || n > headerFields+maxExtraFields {
		return h, 0, r.fail("header", "array of %d fields, want %d to %d", n, headerFields, headerFields+maxExtraFields)
	}
	v, err := r.uint("version", math.MaxUint8)
	if err != nil {
		return h, 0, err
	}
	if v != Version {
		return h, 0, &FieldError{Field: "version", Offset: r.off - 1, Reason: fmt.Sprintf("version %d, this build reads %d", v, Version), err: ErrVersion}
	}
	k, err := r.uint("kind", math.MaxUint8)
	if err != nil {
		return h, 0, err
	}
	if h.Kind = Kind(k); h.Kind < KindUser || h.Kind > KindBatch {
		return h, 0, &FieldError{Field: "kind", Offset: r.off - 1, Reason: fmt.Sprintf("unknown kind %d", k), err: ErrMalformed}
	}
	f, err := r.uint("flags", math.MaxUint8)
	if err != nil {
		return h, 0, err
	}
	h.Flags = Flags(f)
	if h.From, err = r.uint("from", math.MaxUint64); err != nil {
		return h, 0, err
	}
	if h.To, err = r.uint("to", math.MaxUint64); err != nil {
		return h, 0, err
	}
	sb, err := r.str("sender address", MaxString)
	if err != nil {
		return h, 0, err
	}
	h.SenderAddress = intern(0, sb)
	if sb, err = r.str("sender id", MaxString); err != nil {
		return h, 0, err
	}
	h.SenderID = intern(1, sb)
	if sb, err = r.str("target", MaxString); err != nil {
		return h, 0, err
	}
	h.Target = intern(2, sb)
	if h.Corr, err = r.uint("correlation id", math.MaxUint64); err != nil {
		return h, 0, err
	}
	tb, err := r.str("type", MaxString)
	if err != nil {
		return h, 0, err
	}
	h.Type = intern(3, tb)
	if h.Seq, err = r.uint("seq", math.MaxUint64); err != nil {
		return h, 0, err
	}
	e, err := r.uint("epoch", math.MaxUint32)
	if err != nil {
		return h, 0, err
	}
	h.Epoch = uint32(e)
	for range n - headerFields {
		if err := r.skip("header extension", 0); err != nil {
			return h, 0, err
		}
	}
	return h, r.off, nil
}
