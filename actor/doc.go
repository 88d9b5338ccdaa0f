// Package actor is shmactor's entry point: actors in several processes of
// one machine that send to, ask and watch each other by name, with
// protoactor-go's API, through shared-memory inboxes.
//
//	sys, err := actor.Join("shop")           // this process joins namespace "shop"
//	defer sys.Close()
//	actor.RegisterMessage[*Order]()          // types that cross processes
//	pid, err := sys.SpawnNamed(actor.PropsFromFunc(handle), "orders")
//	pid, err := sys.Lookup("orders")         // from any process
//	sys.Root.Send(pid, &Order{ID: 1})
//	res, err := sys.Root.RequestFuture(pid, &Order{ID: 2}, time.Second).Result()
//
// A [System] embeds a protoactor-go actor system, so Root, Spawn, Watch,
// Request and the rest are protoactor-go's. What shmactor adds is where a
// PID can point: every node (process) of the namespace has the address
// "shm://<namespace>/<node id>", and a message to a PID of another node is
// encoded (msgpack), sealed from node to node (AES-256-GCM or
// ChaCha20-Poly1305, chosen per pair) and pushed into that node's inbox
// ring in shared memory, where its pump
// opens it and hands it to the actor. Messages within one process never
// serialize. Sender PIDs and the PIDs of futures travel with messages, so
// ctx.Respond, Request with a sender, Forward and RequestFuture work across
// processes.
//
// Watch, Unwatch, Terminated, Stop and PoisonPill cross processes. When a
// node dies, the namespace's reaper notices within a fraction of a second:
// every local watcher of its actors gets Terminated (reason
// TerminatedNodeGone), requests waiting on it fail with ErrDeadLetter, and
// its names are free to take.
//
// # Caveats
//
// Message types must be registered in every process that sends or receives
// them ([RegisterMessage]); a registered type's values arrive as they were
// sent, and a type that could not make the trip (a channel, a function,
// an interface or unexported field) is refused when it is registered.
// Root.Send cannot return an error: a message
// that cannot be sent becomes a dead letter (a DeadLetterEvent on the event
// stream, and a DeadLetterResponse to a waiting requester); [System.Send]
// and [System.Request] report such problems as errors instead, with the
// sentinel each names. Supervision stays within a process: a parent and
// its children live in one node.
//
// Only [System.SpawnNamed] makes a name other processes can Lookup.
// Root.SpawnNamed is routed to it (a spawn middleware on the System's
// Root); ids protoactor makes (Root.Spawn, Root.SpawnPrefix), children
// spawned from an actor's context and spawns from a RootContext made with
// NewRootContext stay names of this process only.
package actor
