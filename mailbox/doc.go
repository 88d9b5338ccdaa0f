// Package mailbox carries envelopes between the nodes of a namespace
// through shared memory. Each node has an inbox: an MPMC ring in the
// namespace directory that any node may push to and a pump goroutine of
// the owning node drains, opening each frame and handing its messages to a
// handler (the actor layer's delivery into protoactor).
//
// A frame is one ring record: an outer header (kind batch, sending and
// receiving node, sequence number, key epoch) that is the associated data
// of its seal, then the sealed body: one or more messages, each a 4-byte
// big-endian length and an inner envelope (header, optional metadata map,
// payload). The inner headers travel inside the ciphertext.
//
// Sending is synchronous: the caller's goroutine encodes, seals and pushes,
// so errors come back to it. When the receiver's inbox is full the
// [Policy] decides: Block (wait up to a deadline, the default), DropNewest
// or FailFast; a message that is not delivered is an error to the caller
// and a counted drop, never silent. One pump per inbox keeps the messages
// of each sending goroutine in order.
package mailbox
