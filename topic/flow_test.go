package topic

import (
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
)

// TestPausedSubscriptionTimeout: a publisher held back by a paused
// subscription of another node waits the subscription's Block timeout,
// then the publication is dropped there as a local Block timeout would
// be, counted and reported; once the subscription catches up, publishers
// go at once again.
func TestPausedSubscriptionTimeout(t *testing.T) {
	root := testproc.TempDir(t)
	a := joinT(t, root, "late")
	b := joinT(t, root, "late")
	events := make(chan *SlowConsumer, 10)
	b.EventStream.Subscribe(func(ev any) {
		if e, ok := ev.(*SlowConsumer); ok {
			events <- e
		}
	})
	release := make(chan struct{})
	var got atomic.Int64
	sub, err := SubscribeFunc(b, "busy", func(string, any) {
		<-release
		got.Add(1)
	}, WithPending(1), WithSlowConsumer(Block, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	Publish(a, "busy", &Note{Seq: 0}) // in the function
	Publish(a, "busy", &Note{Seq: 1}) // past the limit: pauses a
	awaitPause(t, a, b.NodeID(), "busy", true)
	start := time.Now()
	if err := Publish(a, "busy", &Note{Seq: 2}); err != nil { // waits, then is dropped at b
		t.Fatal(err)
	}
	if d := time.Since(start); d < 190*time.Millisecond || d > 2*time.Second {
		t.Fatalf("publisher waited %v, want the 200ms timeout", d)
	}
	select {
	case ev := <-events:
		if ev.Pattern != "busy" || ev.Policy != Block || ev.Node != b.NodeID() {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no SlowConsumer event for the publication dropped at the timeout")
	}
	if st := sub.Stats(); st.Dropped != 1 || st.Pending != 2 {
		t.Fatalf("stats %+v: want 1 dropped, 2 pending", st)
	}
	close(release)
	awaitPause(t, a, b.NodeID(), "busy", false)
	start = time.Now()
	if err := Publish(a, "busy", &Note{Seq: 3}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("publisher waited %v after the subscription resumed", d)
	}
	for got.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	if st := sub.Stats(); st.Delivered != 3 || st.Dropped != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPauseEndsOnUnsubscribe: unsubscribing a paused subscription lets
// its publishers go.
func TestPauseEndsOnUnsubscribe(t *testing.T) {
	root := testproc.TempDir(t)
	a := joinT(t, root, "unsub")
	b := joinT(t, root, "unsub")
	release := make(chan struct{})
	defer close(release)
	sub, err := SubscribeFunc(b, "busy", func(string, any) { <-release }, WithPending(1))
	if err != nil {
		t.Fatal(err)
	}
	Publish(a, "busy", &Note{Seq: 0})
	Publish(a, "busy", &Note{Seq: 1})
	awaitPause(t, a, b.NodeID(), "busy", true)
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	awaitPause(t, a, b.NodeID(), "busy", false)
}

// FuzzLateHeader: the late marker of a publication comes from a peer;
// reading it never panics, reads at most maxLate ids, and reads back
// what formatLate wrote.
func FuzzLateHeader(f *testing.F) {
	for _, s := range []string{"", "1", "1,2,ff", "ffffffffffffffff", "10000000000000000", ",,", "x,1", strings.Repeat("1,", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		ids := parseLate(map[string]string{lateHeader: v})
		if len(ids) > maxLate {
			t.Fatalf("%d ids read, at most %d", len(ids), maxLate)
		}
		if again := parseLate(map[string]string{lateHeader: formatLate(ids)}); !slices.Equal(again, ids) {
			t.Fatalf("round trip %v -> %v", ids, again)
		}
	})
}
