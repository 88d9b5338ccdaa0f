// Package topic is publish/subscribe across the processes of a shmactor
// namespace, under the same addressing and mailboxes as actors.
//
// Subjects are tokens separated by '.' ("orders.eu.created"); patterns
// may use '*' for any one token and, last, '>' for one or more
// ("orders.*.created", "chat.>"). The syntax and matching rules are
// NATS's (see ValidSubject, ValidPattern and Match).
//
//	sub, err := topic.Subscribe(sys, "orders.*.created", pid)      // to an actor
//	sub, err := topic.SubscribeFunc(sys, "chat.>", func(subject string, m any) { ... })
//	sub, err := topic.QueueSubscribe(sys, "jobs", "workers", pid)  // one member of the group gets each
//	err = topic.Publish(sys, "orders.eu.created", &Order{ID: 1})
//	sub.Unsubscribe()
//
// Request/reply and headers, as in NATS: Request publishes a request and
// returns the first reply (ErrNoResponders at once when nothing
// subscribes); a SubscribeMsgFunc handler answers with Msg.Respond, an
// actor subscriber with ctx.Respond; PublishMsg carries headers, which a
// Msg handler reads in Msg.Header and an actor in its message header.
// []byte and string payloads need no registration. Drain ends a
// subscription after handling what is already on its way; SubscribeSync
// with NextMsg, and ChanSubscribe, take publications one at a time or
// from a channel; WithContext bounds Subscribe's wait for confirmation.
//
//	reply, err := topic.Request(ctx, sys, "stock.check", &Query{ID: 7})
//	sub, err := topic.SubscribeMsgFunc(sys, "stock.*", func(m *topic.Msg) { m.Respond(answer(m.Data)) })
//	err = topic.PublishMsg(sys, &topic.Msg{Subject: "audit", Data: []byte("..."), Header: map[string]string{"trace": id}})
//
// How publications travel: each node holds a registry entry per pattern
// it has subscribers for, so every node knows which nodes want which
// subjects. A publication goes once to each node with a matching
// subscription (one envelope, sealed for that node), and that node hands
// it to each of its matching subscribers; subscribers in the publishing
// process get the message itself. A queue group is a work queue of
// package actor: the publication goes into it once, and whichever member
// is free takes it. Subscribe returns only once every node has confirmed
// that it routes to the new subscription, so a publication issued after
// Subscribe returns, anywhere, is delivered. Order is kept per publisher
// for every subscriber.
//
// Slow consumers: each plain subscription has a pending limit
// (WithPending). When it is reached, the subscription's policy applies
// (WithSlowConsumer): Block (the default) makes the publication wait up to
// a deadline, then drops it; DropNewest drops it at once. A slow
// subscriber never holds up the rest of its process: publications from
// other processes are queued past the limit, and the subscription pauses
// the nodes that sent them, whose Publish calls for the subscription then
// wait (up to the deadline) until it has caught up, while their other
// publications go on. Every drop is counted (Subscription.Stats,
// StatsOf) and reported as a SlowConsumer event on the System's
// EventStream. An actor subscriber's own mailbox is unbounded unless it is
// spawned with a bounded one; give it one to have the pending limit apply
// to it.
//
// When a subscriber's process dies, the namespace reaps its entries
// within a fraction of a second and publishers stop routing to it.
package topic
