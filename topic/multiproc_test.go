package topic

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/testproc"
)

const (
	envRoot     = "TOPIC_ROOT"
	envNS       = "TOPIC_NS"
	envPatterns = "TOPIC_PATTERNS" // ';'-separated
	envProc     = "TOPIC_PROC"
	envSleep    = "TOPIC_SLEEP_US"
)

// subjects the fan-out test publishes on, in turn.
var fanSubjects = []string{"orders.eu.created", "orders.us.created", "orders.eu.shipped", "chat.lobby.msg", "chat.lobby.join", "news"}

// fanMatches says which of fanSubjects each pattern matches, written out
// by hand (not computed with Match).
var fanMatches = map[string][]int{
	"orders.eu.created": {0},
	"orders.*.created":  {0, 1},
	"orders.>":          {0, 1, 2},
	"chat.>":            {3, 4},
	">":                 {0, 1, 2, 3, 4, 5},
	"chat.*.msg":        {3},
}

func init() {
	helpers["sub-node"] = helperSubNode
	helpers["pub-node"] = helperPubNode
	helpers["group-member"] = helperGroupMember
}

func helperJoin() (*actor.System, error) {
	return actor.Join(os.Getenv(envNS), actor.WithRoot(os.Getenv(envRoot)), actor.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
}

var outMu sync.Mutex

func say(format string, args ...any) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Printf(format+"\n", args...)
}

// commands runs fn for each line of stdin until it closes.
func commands(fn func(cmd string, args []string)) {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 {
			fn(f[0], f[1:])
		}
	}
}

// tally counts one subscription's deliveries per publisher and checks
// their order.
type tally struct {
	mu       sync.Mutex
	n        int
	last     map[int]int
	disorder int
}

func (t *tally) add(_ string, m any) {
	n := m.(*Note)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n++
	if last, ok := t.last[n.Pub]; ok && n.Seq <= last {
		t.disorder++
	}
	t.last[n.Pub] = n.Seq
}

// helperSubNode subscribes to TOPIC_PATTERNS and reports counts on
// "report"; "sub S" and "unsub S" subscribe to and leave subject S,
// printing "got S" for each publication on it.
func helperSubNode() error {
	s, err := helperJoin()
	if err != nil {
		return err
	}
	defer s.Close()
	var patterns []string
	tallies := map[string]*tally{}
	if p := os.Getenv(envPatterns); p != "" {
		patterns = strings.Split(p, ";")
	}
	for _, p := range patterns {
		t := &tally{last: map[int]int{}}
		tallies[p] = t
		if _, err := SubscribeFunc(s, p, t.add); err != nil {
			return err
		}
	}
	say("ready %016x", s.NodeID())
	subs := map[string]*Subscription{}
	commands(func(cmd string, args []string) {
		switch cmd {
		case "report":
			for _, p := range patterns {
				t := tallies[p]
				t.mu.Lock()
				say("count %s %d %d", p, t.n, t.disorder)
				t.mu.Unlock()
			}
			say("reported")
		case "sub":
			sub, err := SubscribeFunc(s, args[0], func(subject string, _ any) { say("got %s", subject) })
			if err != nil {
				say("error %v", err)
				return
			}
			subs[args[0]] = sub
			say("subscribed %s", args[0])
		case "unsub":
			if err := subs[args[0]].Unsubscribe(); err != nil {
				say("error %v", err)
				return
			}
			delete(subs, args[0])
			say("unsubscribed %s", args[0])
		}
	})
	return nil
}

// helperPubNode publishes, on "pub N", N notes on fanSubjects in turn.
func helperPubNode() error {
	s, err := helperJoin()
	if err != nil {
		return err
	}
	defer s.Close()
	proc := testproc.EnvInt(envProc, 0)
	say("ready %016x", s.NodeID())
	commands(func(cmd string, args []string) {
		if cmd != "pub" {
			return
		}
		n, _ := strconv.Atoi(args[0])
		for i := range n {
			if err := Publish(s, fanSubjects[i%len(fanSubjects)], &Note{Pub: proc, Seq: i}); err != nil {
				say("error %v", err)
				return
			}
		}
		say("published %d", n)
	})
	return nil
}

// helperGroupMember is a member of queue group "workers" on "jobs.*"
// (or on TOPIC_PATTERNS): it prints "got <seq>" for each job it handles.
func helperGroupMember() error {
	s, err := helperJoin()
	if err != nil {
		return err
	}
	defer s.Close()
	pause := time.Duration(testproc.EnvInt(envSleep, 0)) * time.Microsecond
	pattern := "jobs.*"
	if p := os.Getenv(envPatterns); p != "" {
		pattern = p
	}
	_, err = QueueSubscribeFunc(s, pattern, "workers", func(_ string, m any) {
		if pause > 0 {
			time.Sleep(pause)
		}
		say("got %d", m.(*Note).Seq)
	})
	if err != nil {
		return err
	}
	say("ready %016x", s.NodeID())
	commands(func(string, []string) {})
	return nil
}

func env(root, ns string, extra ...string) []string {
	return append([]string{envRoot + "=" + root, envNS + "=" + ns}, extra...)
}

// count scales a test's message count down under emulation.
func count(n int) int {
	if testproc.Emulated() {
		return n / 10
	}
	return n
}

func TestFanOutAcrossProcesses(t *testing.T) {
	root := testproc.TempDir(t)
	subPatterns := [][]string{
		{"orders.eu.created"},
		{"orders.*.created"},
		{"orders.>", "chat.>"},
		{">", "chat.*.msg"},
	}
	var subs []*testproc.Proc
	for _, ps := range subPatterns {
		p := testproc.Start(t, "sub-node", env(root, "fan", envPatterns+"="+strings.Join(ps, ";"))...)
		p.Expect(t, "ready", 20*time.Second)
		subs = append(subs, p)
	}
	n := count(10000)
	var pubs []*testproc.Proc
	for i := range 3 {
		p := testproc.Start(t, "pub-node", env(root, "fan", fmt.Sprintf("%s=%d", envProc, i))...)
		p.Expect(t, "ready", 20*time.Second)
		pubs = append(pubs, p)
	}
	for _, p := range pubs {
		p.Send(fmt.Sprintf("pub %d", n))
	}
	for _, p := range pubs {
		if got := p.Expect(t, "published", 120*time.Second); got != strconv.Itoa(n) {
			t.Fatalf("publisher: %s", got)
		}
	}
	want := func(pattern string) int {
		per := 0
		for _, s := range fanMatches[pattern] {
			per += (n - s + len(fanSubjects) - 1) / len(fanSubjects) // i < n with i%6 == s
		}
		return 3 * per
	}
	deadline := time.Now().Add(60 * time.Second)
	for i, p := range subs {
		for {
			p.Send("report")
			done := true
			var lines []string
			for range subPatterns[i] {
				l := p.Expect(t, "count", 10*time.Second)
				lines = append(lines, l)
				f := strings.Fields(l)
				got, _ := strconv.Atoi(f[1])
				disorder, _ := strconv.Atoi(f[2])
				if disorder != 0 {
					t.Fatalf("subscriber %d, %s: %d publications out of per-publisher order", i, f[0], disorder)
				}
				if got > want(f[0]) {
					t.Fatalf("subscriber %d, %s: %d publications, want %d", i, f[0], got, want(f[0]))
				}
				done = done && got == want(f[0])
			}
			p.Expect(t, "reported", 10*time.Second)
			if done {
				t.Logf("subscriber %d: %s", i, strings.Join(lines, "; "))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("subscriber %d has %v; want %v", i, lines, subPatterns[i])
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestSubscribeThenPublish checks Subscribe's promise: once it returns,
// a publication from another process is delivered — in every one of many
// rounds, each on a subject nobody had subscribed to before.
func TestSubscribeThenPublish(t *testing.T) {
	root := testproc.TempDir(t)
	pub := joinT(t, root, "barrier")
	if err := Publish(pub, "warm.up", &Note{}); err != nil { // routes cached from here on
		t.Fatal(err)
	}
	sub := testproc.Start(t, "sub-node", env(root, "barrier")...)
	sub.Expect(t, "ready", 20*time.Second)
	rounds := count(1000)
	for i := range rounds {
		subject := fmt.Sprintf("round.%d", i)
		sub.Send("sub " + subject)
		if got := sub.Expect(t, "subscribed", 10*time.Second); got != subject {
			t.Fatalf("round %d: %s", i, got)
		}
		if err := Publish(pub, subject, &Note{Seq: i}); err != nil {
			t.Fatal(err)
		}
		got, err := sub.ExpectE("got", 5*time.Second)
		if err != nil || got != subject {
			t.Fatalf("round %d: publication after Subscribe returned was not delivered (%q, %v)", i, got, err)
		}
		sub.Send("unsub " + subject)
		sub.Expect(t, "unsubscribed", 10*time.Second)
		if i%100 == 0 {
			// After Unsubscribe, nothing more arrives.
			pub.Registry().Sync()
			if err := Publish(pub, subject, &Note{Seq: -i}); err != nil {
				t.Fatal(err)
			}
			if got, err := sub.ExpectE("got", 100*time.Millisecond); err == nil {
				t.Fatalf("round %d: delivery after Unsubscribe: %s", i, got)
			}
		}
	}
	st, _ := StatsOf(pub)
	t.Logf("%d rounds; publisher stats %+v", rounds, st)
}

// TestQueueGroupMemberKilled kills one of three member processes mid-run:
// the others take over, and every job it had not taken is handled exactly
// once.
func TestQueueGroupMemberKilled(t *testing.T) {
	root := testproc.TempDir(t)
	pub := joinT(t, root, "qg")
	var members []*testproc.Proc
	for range 3 {
		p := testproc.Start(t, "group-member", env(root, "qg", envSleep+"=200")...)
		p.Expect(t, "ready", 20*time.Second)
		members = append(members, p)
	}
	var mu sync.Mutex
	handled := map[int]int{} // seq → times
	per := make([]int, len(members))
	var wg sync.WaitGroup
	for i, p := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				s, err := p.ExpectE("got", 60*time.Second)
				if err != nil {
					return
				}
				seq, _ := strconv.Atoi(s)
				mu.Lock()
				handled[seq]++
				per[i]++
				mu.Unlock()
			}
		}()
	}
	n := count(3000)
	victim := members[0]
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for {
			mu.Lock()
			k := per[0]
			mu.Unlock()
			if k >= n/20 {
				victim.Kill()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for i := range n {
		if err := Publish(pub, "jobs.x", &Note{Seq: i}); err != nil {
			t.Fatal(err)
		}
	}
	<-killed
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		k := len(handled)
		mu.Unlock()
		if k >= n-1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let a last job, if any, come in
	for _, p := range members[1:] {
		p.CloseStdin()
	}
	mu.Lock()
	defer mu.Unlock()
	var missing, twice []int
	for i := range n {
		switch handled[i] {
		case 0:
			missing = append(missing, i)
		case 1:
		default:
			twice = append(twice, i)
		}
	}
	t.Logf("handled per member %v (member 0 killed); missing %v", per, missing)
	if len(twice) > 0 {
		t.Fatalf("jobs handled twice: %v", twice)
	}
	if len(missing) > 1 {
		t.Fatalf("%d jobs never handled (only the one the killed member held may be lost): %v", len(missing), missing)
	}
	if per[1] == 0 || per[2] == 0 {
		t.Fatalf("a surviving member handled nothing: %v", per)
	}
}

// TestKilledSubscriberReaped kills one of two subscriber processes while
// publications flow: publishers stop routing to it within a second, and
// the other subscriber gets every publication.
func TestKilledSubscriberReaped(t *testing.T) {
	root := testproc.TempDir(t)
	pub := joinT(t, root, "reap")
	victim := testproc.Start(t, "sub-node", env(root, "reap", envPatterns+"=feed")...)
	vid, _ := strconv.ParseUint(victim.Expect(t, "ready", 20*time.Second), 16, 64)
	other := testproc.Start(t, "sub-node", env(root, "reap", envPatterns+"=feed")...)
	other.Expect(t, "ready", 20*time.Second)
	e, err := engineOf(pub)
	if err != nil {
		t.Fatal(err)
	}
	routed := func() bool { return containsNode(e.table().lookup("feed").nodes, vid) }
	if !routed() {
		t.Fatal("the victim is not routed to before the kill")
	}
	sent := 0
	publish := func(k int) {
		for range k {
			if err := Publish(pub, "feed", &Note{Seq: sent}); err != nil {
				t.Fatal(err)
			}
			sent++
		}
	}
	publish(500)
	victim.Kill()
	killedAt := time.Now()
	for routed() {
		if time.Since(killedAt) > time.Second {
			t.Fatalf("still routing to the killed subscriber after %v", time.Since(killedAt))
		}
		publish(10)
		time.Sleep(time.Millisecond)
	}
	t.Logf("publisher stopped routing to the killed subscriber %v after the kill", time.Since(killedAt).Round(time.Millisecond))
	publish(500)
	deadline := time.Now().Add(20 * time.Second)
	for {
		other.Send("report")
		f := strings.Fields(other.Expect(t, "count", 10*time.Second))
		other.Expect(t, "reported", 10*time.Second)
		got, _ := strconv.Atoi(f[1])
		if f[2] != "0" {
			t.Fatalf("surviving subscriber: %s out of order", f[2])
		}
		if got == sent {
			break
		}
		if got > sent || time.Now().After(deadline) {
			t.Fatalf("surviving subscriber got %d of %d", got, sent)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A queue group delivers each publication to exactly one member, as in
// NATS, whatever patterns its members subscribed with: one member on
// "orders.*" and one on "orders.eu", in two processes, handle 20
// publications on "orders.eu" 20 times between them (not 40).
func TestQueueGroupAcrossPatterns(t *testing.T) {
	root := testproc.TempDir(t)
	pub := joinT(t, root, "qgp")
	var members []*testproc.Proc
	for _, pattern := range []string{"orders.*", "orders.eu"} {
		p := testproc.Start(t, "group-member", env(root, "qgp", envPatterns+"="+pattern)...)
		p.Expect(t, "ready", 20*time.Second)
		members = append(members, p)
	}
	var mu sync.Mutex
	handled := map[int]int{}
	for _, p := range members {
		go func() {
			for {
				s, err := p.ExpectE("got", time.Minute)
				if err != nil {
					return
				}
				seq, _ := strconv.Atoi(s)
				mu.Lock()
				handled[seq]++
				mu.Unlock()
			}
		}()
	}
	const n = 20
	for i := range n {
		if err := Publish(pub, "orders.eu", &Note{Seq: i}); err != nil {
			t.Fatal(err)
		}
	}
	total := func() int {
		mu.Lock()
		defer mu.Unlock()
		sum := 0
		for _, k := range handled {
			sum += k
		}
		return sum
	}
	for deadline := time.Now().Add(20 * time.Second); total() < n && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // room for a second delivery to show up
	mu.Lock()
	defer mu.Unlock()
	if total := len(handled); total != n {
		t.Errorf("%d distinct publications handled, want %d", total, n)
	}
	for seq, k := range handled {
		if k != 1 {
			t.Errorf("publication %d handled %d times", seq, k)
		}
	}
}
