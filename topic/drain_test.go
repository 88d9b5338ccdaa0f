package topic

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
)

// Drain loses nothing already on its way: another process publishes a
// burst and says so; the subscriber, still busy with the first ones,
// drains, and when Drain returns it has handled every publication and
// discarded none (Unsubscribe would have discarded the backlog).
func TestDrainAcrossProcesses(t *testing.T) {
	root := testproc.TempDir(t)
	s := joinT(t, root, "drain")
	var handled atomic.Int64
	sub, err := SubscribeFunc(s, ">", func(string, any) {
		handled.Add(1)
		time.Sleep(200 * time.Microsecond)
	})
	if err != nil {
		t.Fatal(err)
	}
	p := testproc.Start(t, "pub-node", env(root, "drain")...)
	p.Expect(t, "ready", 20*time.Second)
	const n = 1200
	p.Send("pub 1200")
	if got := p.Expect(t, "published", 30*time.Second); got != "1200" {
		t.Fatalf("publisher: %s", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := sub.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	st := sub.Stats()
	if handled.Load() != n || st.Discarded != 0 || st.Dropped != 0 {
		t.Fatalf("handled %d of %d; stats %+v", handled.Load(), n, st)
	}
	if err := sub.Drain(ctx); !errors.Is(err, ErrUnsubscribed) {
		t.Fatalf("second Drain: %v, want ErrUnsubscribed", err)
	}
	if err := sub.Unsubscribe(); !errors.Is(err, ErrUnsubscribed) {
		t.Fatalf("Unsubscribe after Drain: %v, want ErrUnsubscribed", err)
	}
}

// SubscribeSync and NextMsg, and ChanSubscribe, take publications from
// another process in order; NextMsg waits until its context ends.
func TestSyncAndChanSubscriptions(t *testing.T) {
	root := testproc.TempDir(t)
	s := joinT(t, root, "sync")
	syncSub, err := SubscribeSync(s, "orders.eu.created")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *Msg, 1)
	chanSub, err := ChanSubscribe(s, "chat.>", ch)
	if err != nil {
		t.Fatal(err)
	}
	p := testproc.Start(t, "pub-node", env(root, "sync")...)
	p.Expect(t, "ready", 20*time.Second)
	p.Send("pub 60") // 10 on each of six subjects, in turn
	p.Expect(t, "published", 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 10 {
		m, err := syncSub.NextMsg(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n := m.Data.(*Note); m.Subject != "orders.eu.created" || n.Seq != 6*i {
			t.Fatalf("message %d: %s %+v", i, m.Subject, n)
		}
	}
	for i := range 20 { // chat.lobby.msg and chat.lobby.join, in turn
		select {
		case m := <-ch:
			if want := 6*(i/2) + 3 + i%2; m.Data.(*Note).Seq != want {
				t.Fatalf("channel message %d: %s %+v, want seq %d", i, m.Subject, m.Data, want)
			}
		case <-ctx.Done():
			t.Fatalf("channel message %d never came", i)
		}
	}
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if _, err := syncSub.NextMsg(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("NextMsg with nothing to take: %v", err)
	}
	if _, err := chanSub.NextMsg(ctx); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NextMsg on a channel subscription: %v", err)
	}
	syncSub.Unsubscribe()
	if _, err := syncSub.NextMsg(ctx); !errors.Is(err, ErrUnsubscribed) {
		t.Fatalf("NextMsg after Unsubscribe: %v", err)
	}
	cancelled, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	if _, err := SubscribeSync(s, "x", WithContext(cancelled)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe with a cancelled context: %v", err)
	}
}
