package actor

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
)

// Job is a unit of work sent to a queue.
type Job struct{ ID int }

func init() {
	helpers["queue-consumer"] = helperQueueConsumer
	if err := RegisterMessage[*Job](); err != nil {
		panic(err)
	}
}

// tally records which consumer handled which job.
type tally struct {
	mu  sync.Mutex
	by  map[int][]string // job → consumers that handled it
	per map[string]int
}

func newTally() *tally { return &tally{by: map[int][]string{}, per: map[string]int{}} }

func (t *tally) add(consumer string, id int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.by[id] = append(t.by[id], consumer)
	t.per[consumer]++
}

func (t *tally) total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.per {
		n += c
	}
	return n
}

// check reports jobs handled more than once and jobs of 0..n-1 never
// handled.
func (t *tally) check(n int) (dups, missing []int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id := range n {
		switch len(t.by[id]) {
		case 0:
			missing = append(missing, id)
		case 1:
		default:
			dups = append(dups, id)
		}
	}
	return dups, missing
}

// worker handles Jobs, taking d for each.
func worker(name string, t *tally, d time.Duration) *Props {
	return PropsFromFunc(func(ctx Context) {
		if j, ok := ctx.Message().(*Job); ok {
			t.add(name, j.ID)
			time.Sleep(d)
		}
	})
}

// Competing consumers in two nodes of one process: messages sent before
// any consumer exists wait in the queue; every message is handled exactly
// once; a busy consumer does not take more, so both get a share.
func TestQueueCompetingConsumers(t *testing.T) {
	for _, plaintext := range []bool{false, true} {
		t.Run(fmt.Sprintf("plaintext=%v", plaintext), func(t *testing.T) {
			root := testproc.TempDir(t)
			var opts []Option
			if plaintext {
				opts = append(opts, WithPlaintext())
			}
			prod, a, b := joinT(t, root, "q", opts...), joinT(t, root, "q", opts...), joinT(t, root, "q", opts...)
			q, err := prod.QueuePID("jobs")
			if err != nil {
				t.Fatal(err)
			}
			const early, n = 50, 200
			for i := range early {
				prod.Root.Send(q, &Job{ID: i})
			}
			tl := newTally()
			for name, s := range map[string]*System{"a": a, "b": b} {
				if _, err := s.ConsumeQueue("jobs", worker(name, tl, 2*time.Millisecond)); err != nil {
					t.Fatal(err)
				}
			}
			for i := early; i < n; i++ {
				prod.Root.Send(q, &Job{ID: i})
			}
			waitFor(t, "all jobs handled", func() bool { return tl.total() >= n })
			time.Sleep(50 * time.Millisecond) // a duplicate would show up now
			dups, missing := tl.check(n)
			if len(dups) > 0 || len(missing) > 0 || tl.total() != n {
				t.Fatalf("handled %d of %d: duplicates %v, missing %v", tl.total(), n, dups, missing)
			}
			t.Logf("shares: %v", tl.per)
			for _, c := range []string{"a", "b"} {
				if tl.per[c] < n/10 {
					t.Errorf("consumer %s handled %d of %d jobs; a busy consumer should leave jobs to the free one", c, tl.per[c], n)
				}
			}
		})
	}
}

// The queue's files go when its last holder leaves.
func TestQueueRemovedByLastHolder(t *testing.T) {
	root := testproc.TempDir(t)
	a := joinT(t, root, "qr")
	b := joinT(t, root, "qr")
	if _, err := a.QueuePID("jobs"); err != nil {
		t.Fatal(err)
	}
	tl := newTally()
	if _, err := b.ConsumeQueue("jobs", worker("b", tl, 0)); err != nil {
		t.Fatal(err)
	}
	files := func() []string {
		m, _ := filepath.Glob(filepath.Join(a.reg.Dir().Path(), "[qk].*"))
		return m
	}
	if got := files(); len(got) != 2 {
		t.Fatalf("queue files %v, want a ring and a key", got)
	}
	a.Close()
	if got := files(); len(got) != 2 {
		t.Fatalf("after the first holder left: %v, want the queue kept", got)
	}
	b.Close()
	if got := files(); len(got) != 0 {
		t.Fatalf("after the last holder left: %v, want none", got)
	}
}

func TestQueueBadName(t *testing.T) {
	s := joinT(t, testproc.TempDir(t), "qb")
	for _, name := range []string{"", strings.Repeat("x", 300), "a\x00b"} {
		if _, err := s.QueuePID(name); err == nil {
			t.Errorf("QueuePID(%q): no error", name)
		}
		if _, err := s.ConsumeQueue(name, worker("x", newTally(), 0)); err == nil {
			t.Errorf("ConsumeQueue(%q): no error", name)
		}
	}
}

// helperQueueConsumer consumes queue "jobs", printing "got <id>" for each
// job before taking ACT_COUNT microseconds over it, until stdin closes.
func helperQueueConsumer() error {
	s, err := helperJoin()
	if err != nil {
		return err
	}
	defer s.Close()
	d, _ := strconv.Atoi(os.Getenv(envCount))
	_, err = s.ConsumeQueue("jobs", PropsFromFunc(func(ctx Context) {
		if j, ok := ctx.Message().(*Job); ok {
			fmt.Println("got", j.ID)
			time.Sleep(time.Duration(d) * time.Microsecond)
		}
	}))
	if err != nil {
		return err
	}
	fmt.Println("ready")
	commands(func(string, []string) {})
	return nil
}

// Three consumer processes, one killed mid-run: every job is handled
// exactly once, except at most the one the killed consumer had taken and
// not yet reported.
func TestQueueConsumerKilled(t *testing.T) {
	n := 3000
	if testproc.Emulated() {
		n = 300
	}
	root := testproc.TempDir(t)
	tl := newTally()
	var ps []*testproc.Proc
	var readers sync.WaitGroup
	for i := range 3 {
		p := testproc.Start(t, "queue-consumer", env(root, "qk", envCount+"=200")...)
		p.Expect(t, "ready", time.Minute)
		ps = append(ps, p)
		name := fmt.Sprint("c", i)
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				l, err := p.ExpectE("got", 10*time.Minute)
				if err != nil {
					return // exited
				}
				id, _ := strconv.Atoi(l)
				tl.add(name, id)
			}
		}()
	}
	s := joinT(t, root, "qk")
	q, err := s.QueuePID("jobs")
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range n {
			s.Root.Send(q, &Job{ID: i})
		}
	}()
	victim := ps[0]
	waitFor(t, "the victim to handle jobs", func() bool {
		tl.mu.Lock()
		defer tl.mu.Unlock()
		return tl.per["c0"] >= n/20
	})
	victim.Kill()
	victim.Wait(time.Minute)
	<-sent
	if st := s.Stats(); st.Full+st.Dropped+st.Undeliverable > 0 {
		t.Fatalf("sends failed: %+v", st)
	}
	// Wait for the survivors to finish: all jobs, or all but one and no
	// progress for a while.
	for last, still := -1, time.Now(); ; time.Sleep(20 * time.Millisecond) {
		got := tl.total()
		if got >= n {
			break
		}
		if got != last {
			last, still = got, time.Now()
		}
		if got == n-1 && time.Since(still) > 2*time.Second {
			break
		}
		if time.Since(still) > time.Minute {
			t.Fatalf("stuck at %d of %d jobs", got, n)
		}
	}
	for _, p := range ps[1:] {
		p.CloseStdin()
		if err := p.Wait(time.Minute); err != nil {
			t.Fatalf("%s: %v\n%s", p.Name, err, p.Stderr())
		}
	}
	readers.Wait()
	dups, missing := tl.check(n)
	t.Logf("per consumer %v; missing %v", tl.per, missing)
	if len(dups) > 0 {
		t.Fatalf("jobs handled twice: %v", dups)
	}
	if len(missing) > 1 {
		t.Fatalf("%d jobs lost, want at most the one the killed consumer held: %v", len(missing), missing)
	}
	if tl.per["c1"] == 0 || tl.per["c2"] == 0 {
		t.Fatalf("a survivor handled nothing: %v", tl.per)
	}
}
