// Package natsbridge carries a namespace's topic publications to and
// from a NATS server or cluster, so that shmactor is the fast local half
// of pub/sub that spans machines: publications inside one machine go
// through shared memory, and the bridge hands those that match chosen
// subject patterns to NATS, once per machine, and brings NATS's in.
//
//	b, err := natsbridge.New(sys, "nats://nats.example:4222")
//	b.Subject("orders.>")                  // both ways, every subscriber
//	b.QueueGroup("jobs.*", "workers")      // one member across machines
//
// A namespace has one bridge (it holds the registry name "natsbridge"):
// every publication of any of its processes leaves the machine once, and
// a NATS message enters it once. Loops are cut by an origin header: a
// bridge never takes back what it sent (its connection does not echo),
// and never sends again what it brought in.
//
// Queue groups span machines: a publication goes to one member of the
// group among all the bridged namespaces (and NATS's own queue
// subscribers of the group), the publisher's namespace first: it is
// delivered to a member there when the group has one, and its NATS copy
// says so, so that other bridges do not deliver it again; otherwise the
// bridges' NATS queue subscriptions pick one machine. A NATS client
// subscribed to the group itself may get a copy its publisher's
// namespace also served (NATS cannot be told to skip it).
//
// A topic Request is carried as a plain publication: a subscriber on
// another machine gets it without a reply address (its Respond fails
// with topic.ErrNoReply), and the requester waits for its timeout.
// Headers the library reserves (keys starting with "topic." or
// "shmactor.") are not carried either way.
//
// Payloads: []byte and string travel as they are (what NATS clients
// publish and expect), registered message types as their msgpack
// encoding with a type header (the same as between processes), so that
// the other machine's subscribers get the same Go value.
package natsbridge
