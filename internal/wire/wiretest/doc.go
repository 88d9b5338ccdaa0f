// Package wiretest generates Go types and values for the round-trip tests
// of package wire and of the layers above it, and compares what arrives
// with what was sent the way docs/wire-format.md promises: exactly, except
// that a time.Time is compared by its instant (its location and monotonic
// reading do not cross), NaN equals NaN, fields tagged `msgpack:"-"`
// arrive zero, and protobuf messages compare with proto.Equal.
//
// Types are made with reflect.StructOf from a seed, the same in every
// process for the same seed, so a test can register them in two processes
// under the same names and send values from one to the other. The package
// does not import package wire, so wire's own tests can use it.
package wiretest
