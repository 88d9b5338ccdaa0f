// Command memsocket is a memory socket: a server process listens on two
// stream names of a namespace and a client process talks to it through
// them, as it would through TCP, with the bytes in shared memory.
//
//	go run ./examples/memsocket
//
// It starts the server as a second process (itself, with MEMSOCKET_SERVE
// set in its environment), then,
// as the client, sends a few lines to the "upper" listener and prints the
// answers, and fetches a page from the "web" listener with net/http's
// client, its Transport dialing streams instead of TCP. -root puts the
// namespace elsewhere than the default directory.
package main
