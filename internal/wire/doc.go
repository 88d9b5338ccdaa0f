// Package wire encodes and decodes shmactor's envelopes: a header and a
// payload, both msgpack. The header ([Header]) says what the message is
// (kind, sender and receiving node, sender PID, target, correlation id,
// payload type name, per-sender sequence number, key epoch); the payload is
// the msgpack encoding of a Go value whose type is registered in a
// [Registry] under a stable name (protobuf messages: their protobuf
// encoding, in a msgpack bin).
//
// Every value of a registered type decodes to what was encoded.
// Registration walks the type and refuses, with a [*TypeError] naming the
// field and the reason, anything that would not: channels, functions,
// interfaces, unexported fields, pointers to pointers, slices or maps,
// map keys that compare by address, and the like (docs/wire-format.md,
// "Which Go types cross").
//
// Decoding treats every byte as hostile: each length is checked against
// the bytes that remain and a configured maximum before anything is
// allocated, nesting depth is bounded, arbitrary input never panics, and
// an unregistered type name is an [*UnknownTypeError] naming it, never a
// wrongly typed value. [RawMessage] carries a payload whose type the
// process does not know.
//
// The encoded header is also the associated data that package seal
// authenticates, so a sealed envelope whose header was changed in any bit
// does not open. docs/wire-format.md describes the format byte by byte.
package wire
