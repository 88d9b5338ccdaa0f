// Command shmactor looks into and looks after shmactor namespaces: what
// runs in them, what they hold, and the identities that may join them.
//
//	shmactor ls [-root DIR] [-json] [NAMESPACE...]
//	shmactor stats [-root DIR] [-json] [-watch DURATION] NAMESPACE
//	shmactor clean [-root DIR] [-json] [NAMESPACE...]
//	shmactor pub [-root DIR] [-plaintext] [-type T] NAMESPACE SUBJECT DATA
//	shmactor sub [-root DIR] [-plaintext] [-count N] NAMESPACE PATTERN
//	shmactor req [-root DIR] [-plaintext] [-type T] [-timeout D] NAMESPACE ACTOR DATA
//	shmactor keygen -name NAME FILE
//	shmactor trust add [-store FILE] IDENTITY-FILE...
//	shmactor bench [compare flags]
//
// ls lists namespaces, their nodes (OS pid, start time, alive or dead),
// names, topic subscriptions with their subscribers, and work queues.
// stats shows each node's inbox counters, read from shared memory
// without joining. pub, sub and req join the namespace for the time of
// the command and publish, print publications, or ask an actor: DATA is
// a string, bytes (-type bytes), or, for a registered type (-type NAME),
// a JSON object of its fields. clean removes namespaces whose every node is dead,
// never one with a live process. keygen makes an identity and prints its
// trust-store line; trust add appends identities' lines to a trust
// store. bench runs `go run ./bench compare` in the module's checkout.
//
// Exit codes: 0 done; 1 a failure (the message says which); 2 a usage
// error.
package main
