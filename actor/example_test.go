package actor_test

import (
	"fmt"
	"os"
	"time"

	"github.com/shmactor/shmactor/actor"
)

// Order is a message that crosses processes: registered in every process
// that sends or receives it.
type Order struct {
	ID  int
	SKU string
}

// Receipt answers an Order.
type Receipt struct {
	ID     int
	Status string
}

func init() {
	actor.RegisterMessage[*Order]()
	actor.RegisterMessage[*Receipt]()
}

// Two nodes of namespace "shop": one serves "orders", the other looks the
// name up and asks. Here both nodes live in one process; in practice each
// is a process of its own, and the code is the same.
func ExampleSystem_SpawnNamed() {
	root, _ := os.MkdirTemp("", "shmactor-example-")
	defer os.RemoveAll(root)

	shop, err := actor.Join("shop", actor.WithRoot(root))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shop.Close()
	_, err = shop.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if o, ok := ctx.Message().(*Order); ok {
			ctx.Respond(&Receipt{ID: o.ID, Status: "accepted " + o.SKU})
		}
	}), "orders")
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
	pid, err := client.Lookup("orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := client.Root.RequestFuture(pid, &Order{ID: 7, SKU: "tea"}, 5*time.Second).Result()
	if err != nil {
		fmt.Println(err)
		return
	}
	r := res.(*Receipt)
	fmt.Println(r.ID, r.Status)
	// Output: 7 accepted tea
}

// A work queue: each job goes to exactly one of the consumers.
func ExampleSystem_ConsumeQueue() {
	root, _ := os.MkdirTemp("", "shmactor-example-")
	defer os.RemoveAll(root)
	sys, err := actor.Join("jobs", actor.WithRoot(root))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sys.Close()

	done := make(chan int, 10)
	if _, err := sys.ConsumeQueue("orders", actor.PropsFromFunc(func(ctx actor.Context) {
		if o, ok := ctx.Message().(*Order); ok {
			done <- o.ID
		}
	})); err != nil {
		fmt.Println(err)
		return
	}
	q, err := sys.QueuePID("orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	sum := 0
	for i := 1; i <= 10; i++ {
		sys.Root.Send(q, &Order{ID: i})
	}
	for range 10 {
		sum += <-done
	}
	fmt.Println("handled 10 jobs, sum of ids", sum)
	// Output: handled 10 jobs, sum of ids 55
}
