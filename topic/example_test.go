package topic_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/topic"
)

// Created is a message that crosses processes: registered in every
// process that publishes or receives it.
type Created struct {
	ID     int
	Region string
}

func init() { actor.RegisterMessage[*Created]() }

// A subscriber node and a publisher node of namespace "shop". Here both
// live in one process; in practice each is a process of its own, and the
// code is the same.
func ExampleSubscribeFunc() {
	root, _ := os.MkdirTemp("", "shmactor-example-")
	defer os.RemoveAll(root)

	audit, err := actor.Join("shop", actor.WithRoot(root))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer audit.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	_, err = topic.SubscribeFunc(audit, "orders.*.created", func(subject string, m any) {
		fmt.Printf("%s: order %d\n", subject, m.(*Created).ID)
		wg.Done()
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	shop, err := actor.Join("shop", actor.WithRoot(root))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shop.Close()
	topic.Publish(shop, "orders.eu.created", &Created{ID: 1, Region: "eu"})
	topic.Publish(shop, "orders.eu.shipped", &Created{ID: 1, Region: "eu"}) // matches nothing
	topic.Publish(shop, "orders.us.created", &Created{ID: 2, Region: "us"})
	wg.Wait()
	// Output:
	// orders.eu.created: order 1
	// orders.us.created: order 2
}

// An actor subscribes, and reads the subject from the message header.
func ExampleSubscribe() {
	root, _ := os.MkdirTemp("", "shmactor-example-")
	defer os.RemoveAll(root)
	sys, err := actor.Join("news", actor.WithRoot(root))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sys.Close()
	done := make(chan struct{})
	pid := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if c, ok := ctx.Message().(*Created); ok {
			fmt.Printf("%s: order %d in %s\n", topic.Subject(ctx), c.ID, c.Region)
			close(done)
		}
	}))
	sub, err := topic.Subscribe(sys, "orders.>", pid)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Unsubscribe()
	topic.Publish(sys, "orders.eu.created", &Created{ID: 7, Region: "eu"})
	<-done
	// Output:
	// orders.eu.created: order 7 in eu
}

// A queue group: each publication goes to one member, wherever it runs.
func ExampleQueueSubscribeFunc() {
	root, _ := os.MkdirTemp("", "shmactor-example-")
	defer os.RemoveAll(root)
	var members []*actor.System
	var mu sync.Mutex
	var wg sync.WaitGroup
	handled := 0
	for range 2 {
		m, err := actor.Join("jobs", actor.WithRoot(root))
		if err != nil {
			fmt.Println(err)
			return
		}
		defer m.Close()
		members = append(members, m)
		_, err = topic.QueueSubscribeFunc(m, "jobs.>", "workers", func(string, any) {
			mu.Lock()
			handled++
			mu.Unlock()
			wg.Done()
		})
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	wg.Add(10)
	for i := range 10 {
		topic.Publish(members[0], "jobs.resize", &Created{ID: i})
	}
	wg.Wait()
	fmt.Println("handled", handled, "jobs, each once")
	// Output:
	// handled 10 jobs, each once
}

func ExampleMatch() {
	fmt.Println(topic.Match("orders.*.created", "orders.eu.created"))
	fmt.Println(topic.Match("orders.>", "orders.eu.created"))
	fmt.Println(topic.Match("orders.>", "orders"))
	fmt.Println(topic.ValidPattern("orders.>.created"))
	// Output:
	// true
	// true
	// false
	// topic: invalid subject: pattern "orders.>.created" has '>' before its last token
}

// Request/reply on a subject: a service node answers with Msg.Respond,
// a client node asks with Request; headers travel with a publication.
func ExampleRequest() {
	root, _ := os.MkdirTemp("", "shmactor-example-")
	defer os.RemoveAll(root)

	svc, err := actor.Join("shop", actor.WithRoot(root))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Close()
	_, err = topic.SubscribeMsgFunc(svc, "stock.*", func(m *topic.Msg) {
		q := m.Data.(*Created)
		m.Respond(fmt.Sprintf("order %d in %s: in stock", q.ID, q.Region))
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	client, err := actor.Join("shop", actor.WithRoot(root))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := topic.Request(ctx, client, "stock.check", &Created{ID: 7, Region: "eu"})
	fmt.Println(reply, err)
	_, err = topic.Request(ctx, client, "billing.check", &Created{ID: 7})
	fmt.Println(errors.Is(err, topic.ErrNoResponders))
	// Headers travel with PublishMsg; a Msg handler reads them in Header.
	err = topic.PublishMsg(client, &topic.Msg{Subject: "stock.note", Data: &Created{ID: 8}, Header: map[string]string{"client": "web"}})
	fmt.Println(err)
	// Output:
	// order 7 in eu: in stock <nil>
	// true
	// <nil>
}

// Drain ends a subscription once what is on its way has been handled.
func ExampleSubscription_Drain() {
	root, _ := os.MkdirTemp("", "shmactor-example-")
	defer os.RemoveAll(root)
	sys, err := actor.Join("shop", actor.WithRoot(root))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sys.Close()
	handled := 0
	sub, err := topic.SubscribeFunc(sys, "orders.>", func(string, any) {
		time.Sleep(time.Millisecond) // a subscriber slower than its publisher
		handled++
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range 20 {
		topic.Publish(sys, "orders.eu.created", &Created{ID: i})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = sub.Drain(ctx)
	fmt.Println(handled, err, sub.Stats().Discarded)
	// Output:
	// 20 <nil> 0
}
