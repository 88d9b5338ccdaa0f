// Command machines runs a pipeline across two "machines" on one host:
// two processes, each the node of a namespace of its own under a root of
// its own, that reach each other over 127.0.0.1 only, as two hosts
// would.
//
//	go run ./examples/machines [-n 20000] [-plaintext]
//
// The parent starts a NATS server and the two machines. West offers an
// actor named "hasher" and a remote (actor.WithRemote, mutual TLS from
// the machines' identities unless -plaintext). East looks "hasher" up on
// west by west's address (System.LookupAt) and sends it every job as a
// request, 64 in flight, through protoactor-go's remote; each answer is
// checked. For each job west also publishes a Done on "results.<n>":
// both machines bridge "results.>" to NATS (package natsbridge), so the
// publications reach east's subscriber, once each. The run ends with
// "result every job answered and published once", or says what went
// wrong and exits with status 1.
package main
