package actor

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/mailbox"
	"github.com/shmactor/shmactor/shm"
)

func init() {
	helpers["stream-sender"] = helperStreamSender
}

// helperStreamSender serves "here" (for watching) and sends ACT_COUNT
// Pings numbered from 0, noted ACT_NAME, to "sink" without pause,
// waiting as long as it takes for room, or fewer if its stdin closes
// first; then, once its stdin has closed, it prints "sent <n>" and
// closes.
func helperStreamSender() error {
	s, err := Join(os.Getenv(envNS), WithRoot(os.Getenv(envRoot)), WithBackPressure(mailbox.Block, time.Minute))
	if err != nil {
		return err
	}
	if _, err := s.SpawnNamed(echo("here"), "here-"+os.Getenv(envName)); err != nil {
		return err
	}
	pid, err := s.Lookup("sink")
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	go func() {
		commands(func(string, []string) {})
		close(stop)
	}()
	note := os.Getenv(envName)
	count, _ := strconv.Atoi(os.Getenv(envCount))
	n := 0
	for ; ; n++ {
		if n == count {
			<-stop
		}
		select {
		case <-stop:
			fmt.Println("sent", n)
			return s.Close()
		default:
		}
		if n == 200 {
			fmt.Println("streaming")
		}
		s.Root.Send(pid, &Ping{N: n, Note: note})
	}
}

// Several processes stream into one receiver's small inbox, as fast as
// its actor (on the pump: each message takes less than the hand-off
// budget) lets them; one sender is killed mid-stream, likely in the
// middle of a push. Every message of the senders that close is
// delivered, once, in order; of the killed one, a prefix in order; the
// receiver's watcher of an actor of the killed process is told it is
// gone; no frame is rejected.
func TestStreamFromProcessesWithKill(t *testing.T) {
	root := testproc.TempDir(t)
	s := joinT(t, root, "stream", WithInbox(shm.RingConfig{Cells: 64}))
	var mu sync.Mutex
	next := map[string]int{}
	var bad []string
	handled := 0
	if _, err := s.SpawnNamed(PropsFromFunc(func(ctx Context) {
		p, ok := ctx.Message().(*Ping)
		if !ok {
			return
		}
		mu.Lock()
		if p.N != next[p.Note] && len(bad) < 10 {
			bad = append(bad, fmt.Sprintf("%s: %d, want %d", p.Note, p.N, next[p.Note]))
		}
		next[p.Note] = p.N + 1
		handled++
		k := handled
		mu.Unlock()
		if k%3 == 0 {
			spin(100 * time.Microsecond)
		}
	}), "sink"); err != nil {
		t.Fatal(err)
	}
	names := []string{"p0", "p1", "p2"}
	procs := map[string]*testproc.Proc{}
	for _, name := range names {
		count := "15000"
		if name == "p1" {
			count = "60000" // killed before it is through
		}
		procs[name] = testproc.Start(t, "stream-sender", env(root, "stream", envName+"="+name, envCount+"="+count)...)
	}
	for _, name := range names {
		procs[name].Expect(t, "streaming", time.Minute)
	}
	terminated := make(chan *proto.Terminated, 1)
	here := mustLookup(t, s, "here-p1")
	s.Root.Spawn(PropsFromFunc(func(ctx Context) {
		switch m := ctx.Message().(type) {
		case *proto.Started:
			ctx.Watch(here)
		case *proto.Terminated:
			terminated <- m
		}
	}))
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := next["p1"]
		mu.Unlock()
		if n >= 5000 || time.Now().After(deadline) {
			break
		}
	}
	procs["p1"].Kill()
	sent := map[string]int{}
	for _, name := range []string{"p0", "p2"} {
		procs[name].CloseStdin()
		var n int
		fmt.Sscan(procs[name].Expect(t, "sent", time.Minute), &n)
		sent[name] = n
		if err := procs[name].Wait(30 * time.Second); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	select {
	case m := <-terminated:
		if m.Why != proto.TerminatedReason_AddressTerminated {
			t.Errorf("Terminated %v, want AddressTerminated", m.Why)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("no Terminated for an actor of the killed process")
	}
	// Until everything has been handled: the senders' and what the
	// killed one committed before it died.
	last := -1
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		done := next["p0"] >= sent["p0"] && next["p2"] >= sent["p2"] && handled == last
		last = handled
		mu.Unlock()
		if done {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	st := s.Stats()
	if len(bad) > 0 || next["p0"] != sent["p0"] || next["p2"] != sent["p2"] || next["p1"] < 5000 || st.Rejected != 0 {
		t.Fatalf("out of order: %s; delivered %v of sent %v; receiver %+v", strings.Join(bad, "; "), next, sent, st)
	}
	t.Logf("delivered %v; receiver %+v", next, st)
}
