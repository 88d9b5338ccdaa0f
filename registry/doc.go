// Package registry is a shmactor namespace: the nodes (processes) that
// have joined it, and the names they hold.
//
// [Join] makes this process a node: it takes a lease in the namespace
// directory (a lock the kernel drops when the process dies), reaps what
// crashed processes left behind, and publishes a node record with what
// peers need to reach it. [Registry.Register] claims an exclusive name
// (an actor's): exactly one of several racing nodes wins, the others get a
// [*NameTakenError] naming the holder. [Registry.Subscribe] adds the node
// to a shared name (a topic subscription, a queue group). Lookups are
// served from a view each node keeps in memory; every change is logged to
// a shared changelog whose doorbell wakes every node's watcher, so the
// views follow within milliseconds, and [Registry.Watch] reports the
// changes.
//
// A node whose lease is free is dead. One node at a time is the
// namespace's reaper: it checks the others' leases a few times a second
// and, when one has died, removes its names, subscriptions, segments,
// record and lease ([Registry.Reap]), so watchers see it leave within a
// fraction of a second. Reaping is serialized by a lock, and a name file
// is removed only by its owner or by a reaper holding that lock, so a
// concurrent re-registration of a dead node's name is never undone.
//
// Names are printable ASCII up to 120 bytes ([ValidName]); on disk they
// are base32-encoded, so no name becomes a path. docs/architecture.md
// describes the layout and the life of a node.
package registry
