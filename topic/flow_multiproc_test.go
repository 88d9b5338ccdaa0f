package topic

import (
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/testproc"
)

func init() {
	helpers["slow-node"] = helperSlowNode
}

// helperSlowNode has a slow subscriber of "slow.>" (pending limit 1,
// Block, a handler that sleeps TOPIC_SLEEP_US), a slow member of queue
// group "workers" on "work.>", a fast subscriber of "fast.>" and an
// actor "echo" that answers every request with the request. "report"
// prints "slow <delivered> <dropped> <disorder>", "work <handled>" and
// "fast <delivered>".
func helperSlowNode() error {
	s, err := helperJoin()
	if err != nil {
		return err
	}
	defer s.Close()
	pause := time.Duration(testproc.EnvInt(envSleep, 0)) * time.Microsecond
	slow := &tally{last: map[int]int{}}
	sub, err := SubscribeFunc(s, "slow.>", func(subject string, m any) {
		time.Sleep(pause)
		slow.add(subject, m)
	}, WithPending(1), WithSlowConsumer(Block, 0))
	if err != nil {
		return err
	}
	var work, fast atomic.Int64
	if _, err := QueueSubscribeFunc(s, "work.>", "workers", func(string, any) {
		time.Sleep(pause)
		work.Add(1)
	}); err != nil {
		return err
	}
	if _, err := SubscribeFunc(s, "fast.>", func(string, any) { fast.Add(1) }); err != nil {
		return err
	}
	if _, err := s.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if n, ok := ctx.Message().(*Note); ok {
			ctx.Respond(n)
		}
	}), "echo"); err != nil {
		return err
	}
	say("ready %016x", s.NodeID())
	commands(func(cmd string, _ []string) {
		if cmd != "report" {
			return
		}
		slow.mu.Lock()
		say("slow %d %d %d", slow.n, sub.Stats().Dropped, slow.disorder)
		slow.mu.Unlock()
		say("work %d", work.Load())
		say("fast %d", fast.Load())
	})
	return nil
}

// slowReport asks a slow-node for its counts.
func slowReport(t *testing.T, p *testproc.Proc) (slow, dropped, disorder, work, fast int) {
	t.Helper()
	p.Send("report")
	f := strings.Fields(p.Expect(t, "slow", 10*time.Second))
	slow, _ = strconv.Atoi(f[0])
	dropped, _ = strconv.Atoi(f[1])
	disorder, _ = strconv.Atoi(f[2])
	work, _ = strconv.Atoi(p.Expect(t, "work", 10*time.Second))
	fast, _ = strconv.Atoi(p.Expect(t, "fast", 10*time.Second))
	return
}

// awaitSlowNode waits until a slow-node has delivered slow publications
// on "slow.>", work jobs and fast ones, and checks that none was dropped
// or delivered out of order.
func awaitSlowNode(t *testing.T, p *testproc.Proc, slow, work, fast int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s, dropped, disorder, w, f := slowReport(t, p)
		if dropped != 0 || disorder != 0 {
			t.Fatalf("slow subscriber: %d dropped, %d out of order", dropped, disorder)
		}
		if s > slow || w > work || f > fast {
			t.Fatalf("delivered slow %d, work %d, fast %d; want %d, %d, %d", s, w, f, slow, work, fast)
		}
		if s == slow && w == work && f == fast {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: delivered slow %d, work %d, fast %d; want %d, %d, %d", within, s, w, f, slow, work, fast)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSlowSubscriberDoesNotStallNode: a subscriber that takes 1.5 s per
// publication, with a pending limit of 1 and the Block policy, and a
// queue group member as slow must not hold up the other actors of their
// process: a request to an actor beside them is answered at once, and
// every publication is still delivered, none dropped.
func TestSlowSubscriberDoesNotStallNode(t *testing.T) {
	root := testproc.TempDir(t)
	a := joinT(t, root, "stall")
	b := testproc.Start(t, "slow-node", env(root, "stall", envSleep+"=1500000")...)
	b.Expect(t, "ready", 20*time.Second)
	const n = 4
	for i := range n {
		if err := Publish(a, "slow.x", &Note{Seq: i}); err != nil {
			t.Fatal(err)
		}
		if err := Publish(a, "work.x", &Note{Seq: i}); err != nil {
			t.Fatal(err)
		}
	}
	pid, err := a.Lookup("echo")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := a.Root.RequestFuture(pid, &Note{Seq: 42}, 10*time.Second).Result()
	took := time.Since(start)
	if r, ok := res.(*Note); err != nil || !ok || r.Seq != 42 {
		t.Fatalf("echo answered %v, %v", res, err)
	}
	t.Logf("echo answered in %v behind %d slow publications", took.Round(time.Microsecond), n)
	if took > time.Second {
		t.Fatalf("echo answered in %v: the slow subscriber held up its node's inbox", took)
	}
	awaitSlowNode(t, b, n, n, 0, 20*time.Second)
	st, _ := StatsOf(a)
	if st.Dropped != 0 {
		t.Fatalf("publisher stats %+v", st)
	}
}

// awaitPause waits until sys holds publications on subject to node back
// (or, want false, no longer does).
func awaitPause(t *testing.T, sys *actor.System, node uint64, subject string, want bool) {
	t.Helper()
	e, err := engineOf(sys)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.paused.isPaused(node, subject) != want {
		if time.Now().After(deadline) {
			t.Fatalf("node %016x paused %q: %v after 5s, want %v", node, subject, !want, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPausedSubscriptionHoldsItsPublishers: once a slow subscription of
// another process has paused this node, a publication for it waits until
// the subscription catches up, while a publication on another subject,
// published meanwhile from the same process, goes at once.
func TestPausedSubscriptionHoldsItsPublishers(t *testing.T) {
	root := testproc.TempDir(t)
	a := joinT(t, root, "held")
	b := testproc.Start(t, "slow-node", env(root, "held", envSleep+"=500000")...)
	bid, _ := strconv.ParseUint(b.Expect(t, "ready", 20*time.Second), 16, 64)
	for i := range 2 { // one in the handler, one past the limit of 1
		if err := Publish(a, "slow.x", &Note{Seq: i}); err != nil {
			t.Fatal(err)
		}
	}
	awaitPause(t, a, bid, "slow.x", true)
	held := make(chan error, 1)
	start := time.Now()
	go func() { held <- Publish(a, "slow.x", &Note{Seq: 2}) }()
	time.Sleep(20 * time.Millisecond) // let it wait
	fastStart := time.Now()
	if err := Publish(a, "fast.y", &Note{Seq: 0}); err != nil {
		t.Fatal(err)
	}
	fast := time.Since(fastStart)
	select {
	case err := <-held:
		t.Fatalf("the publication for the paused subscription went at once (%v, err %v)", time.Since(start), err)
	default:
	}
	if fast > 250*time.Millisecond {
		t.Fatalf("a publication on another subject took %v", fast)
	}
	var waited time.Duration
	select {
	case err := <-held:
		waited = time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held publication never went")
	}
	t.Logf("unrelated publication took %v; held one waited %v", fast.Round(time.Microsecond), waited.Round(time.Millisecond))
	if waited < 300*time.Millisecond {
		t.Fatalf("the held publication waited only %v", waited)
	}
	awaitSlowNode(t, b, 3, 0, 1, 20*time.Second)
	if st, _ := StatsOf(a); st.Waited != 1 || st.Dropped != 0 {
		t.Fatalf("publisher stats %+v: want 1 waited, none dropped", st)
	}
}

// TestPauseEndsWithNode: when the process that paused a subscription
// dies, its publishers stop waiting for it well before the timeout.
func TestPauseEndsWithNode(t *testing.T) {
	root := testproc.TempDir(t)
	a := joinT(t, root, "gone")
	b := testproc.Start(t, "slow-node", env(root, "gone", envSleep+"=10000000")...)
	bid, _ := strconv.ParseUint(b.Expect(t, "ready", 20*time.Second), 16, 64)
	for i := range 2 {
		if err := Publish(a, "slow.x", &Note{Seq: i}); err != nil {
			t.Fatal(err)
		}
	}
	awaitPause(t, a, bid, "slow.x", true)
	b.Kill()
	start := time.Now()
	if err := Publish(a, "slow.x", &Note{Seq: 2}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("publication to the dead node's paused subscription returned after %v", took.Round(time.Millisecond))
	if took > DefaultBlockTimeout/2 {
		t.Fatalf("publisher waited %v for a dead node", took)
	}
	awaitPause(t, a, bid, "slow.x", false)
}
