package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmactor/shmactor/shm"
)

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func TestRegisterLookupUnregister(t *testing.T) {
	root := testRoot(t)
	a, b := join(t, root, "shop"), join(t, root, "shop")
	if a.ID() == b.ID() {
		t.Fatal("two nodes share an id")
	}
	if err := a.Register("orders", "$1"); err != nil {
		t.Fatal(err)
	}
	e, err := b.Lookup("orders")
	if err != nil || e.Node != a.ID() || e.Target != "$1" || e.Shared {
		t.Fatalf("b.Lookup = %+v, %v", e, err)
	}
	var nt *NameTakenError
	if err := b.Register("orders", "$2"); !errors.As(err, &nt) || nt.Holder != a.ID() || nt.Self {
		t.Fatalf("b.Register of a's name: %v", err)
	}
	if !strings.Contains(err2s(b.Register("orders", "$2")), fmt.Sprintf("%016x", a.ID())) {
		t.Fatal("ErrNameTaken does not name the holder")
	}
	if err := a.Register("orders", "$1"); !errors.As(err, &nt) || !nt.Self {
		t.Fatalf("a.Register twice: %v", err)
	}
	if err := b.Unregister("orders"); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("b.Unregister of a's name: %v", err)
	}
	if err := a.Unregister("orders"); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "b still sees orders", func() bool {
		_, err := b.Lookup("orders")
		return errors.Is(err, ErrNotFound)
	})
	if err := b.Register("orders", "$2"); err != nil {
		t.Fatalf("b.Register after a released: %v", err)
	}
	eventually(t, time.Second, "a does not see b's orders", func() bool {
		e, err := a.Lookup("orders")
		return err == nil && e.Node == b.ID()
	})
	if err := a.Unregister("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Unregister unknown: %v", err)
	}
}

func err2s(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestSharedNames(t *testing.T) {
	root := testRoot(t)
	a, b := join(t, root, "ns"), join(t, root, "ns")
	for _, r := range []*Registry{a, b} {
		if err := r.Subscribe("orders.*.created", "$sub"); err != nil {
			t.Fatal(err)
		}
		if err := r.Subscribe("orders.*.created", "$sub"); err != nil {
			t.Fatalf("subscribing twice: %v", err)
		}
	}
	eventually(t, time.Second, "both holders visible", func() bool {
		return len(a.Holders("orders.*.created")) == 2 && len(b.Holders("orders.*.created")) == 2
	})
	if err := a.Unsubscribe("orders.*.created"); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "a's subscription gone", func() bool {
		h := b.Holders("orders.*.created")
		return len(h) == 1 && h[0].Node == b.ID()
	})
	if err := a.Unsubscribe("orders.*.created"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Unsubscribe: %v", err)
	}
	if names := b.SharedNames(); len(names) != 1 || names[0] != "orders.*.created" {
		t.Fatalf("SharedNames = %v", names)
	}
}

// After Sync, a node's view has every change another node has made, at
// once: subscriptions and unsubscriptions, and names.
func TestSyncSeesChangesAtOnce(t *testing.T) {
	root := testRoot(t)
	a, b := join(t, root, "ns"), join(t, root, "ns")
	for i := range 200 {
		name := fmt.Sprint("sync.", i)
		if err := b.Subscribe(name, ""); err != nil {
			t.Fatal(err)
		}
		if err := a.Sync(); err != nil {
			t.Fatal(err)
		}
		if h := a.Holders(name); len(h) != 1 || h[0].Node != b.ID() {
			t.Fatalf("round %d: after Sync, holders %v, want b's subscription", i, h)
		}
		if err := b.Unsubscribe(name); err != nil {
			t.Fatal(err)
		}
		a.Sync()
		if h := a.Holders(name); len(h) != 0 {
			t.Fatalf("round %d: after Sync, holders %v, want none", i, h)
		}
	}
	b.Close()
	if err := b.Sync(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sync after Close: %v, want ErrClosed", err)
	}
}

// Every change a node's view goes through is reported to its watchers,
// in order. (The view follows the namespace's state: changes that come and
// go faster than the watcher wakes may coalesce; each step here waits
// until the view has it.)
func TestWatchEvents(t *testing.T) {
	root := testRoot(t)
	a := join(t, root, "ns")
	var mu sync.Mutex
	var got []string
	stop := a.Watch(func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		switch ev.Kind {
		case NodeJoined, NodeLeft:
			got = append(got, fmt.Sprintf("%v", ev.Kind))
		default:
			got = append(got, fmt.Sprintf("%v %s", ev.Kind, ev.Entry.Name))
		}
	})
	defer stop()
	seen := func(n int) {
		t.Helper()
		eventually(t, 2*time.Second, fmt.Sprintf("event %d", n), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got) >= n
		})
	}
	b, err := Join("ns", &Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	seen(1)
	b.Register("x", "")
	seen(2)
	b.Subscribe("t", "")
	seen(3)
	b.Unregister("x")
	seen(4)
	b.Close()
	seen(6)
	want := []string{"node joined", "name added x", "name added t", "name removed x", "name removed t", "node left"}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// However fast names churn, every view converges on the namespace's
// state.
func TestViewsConverge(t *testing.T) {
	root := testRoot(t)
	a, b := join(t, root, "ns"), join(t, root, "ns")
	for i := range 300 {
		n := fmt.Sprint("churn-", i%7)
		r := []*Registry{a, b}[i%2]
		if r.Register(n, fmt.Sprint(i)) != nil {
			r.Unregister(n)
		}
	}
	snapshot := func(r *Registry) string {
		var s []string
		for _, e := range r.Names() {
			s = append(s, fmt.Sprintf("%s=%x/%s", e.Name, e.Node, e.Target))
		}
		return strings.Join(s, " ")
	}
	eventually(t, 2*time.Second, "views differ", func() bool { return snapshot(a) == snapshot(b) })
	// And they agree with the directory.
	c := join(t, root, "ns")
	if snapshot(c) != snapshot(a) {
		t.Fatalf("a fresh view %q differs from %q", snapshot(c), snapshot(a))
	}
}

func TestCloseRemovesEverything(t *testing.T) {
	root := testRoot(t)
	a := join(t, root, "ns")
	b, err := Join("ns", &Options{Root: root, Prepare: func(id uint64, _ *shm.Dir) (*Node, error) {
		return &Node{Inbox: NodeFile("inbox", id), Epoch: 1, Meta: map[string]string{"k": "v"}}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := a.Node(b.ID()); err != nil || n.Inbox != NodeFile("inbox", b.ID()) || n.Meta["k"] != "v" {
		t.Fatalf("a sees b as %+v, %v", n, err)
	}
	seg, err := b.Dir().CreateSegment(NodeFile("inbox", b.ID()), shm.KindUser, 64, nil)
	if err != nil {
		t.Fatal(err)
	}
	seg.Close()
	b.Register("name", "")
	b.Subscribe("sub", "")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := b.Register("z", ""); !errors.Is(err, ErrClosed) {
		t.Fatalf("Register after Close: %v", err)
	}
	for _, f := range leftovers(t, a, b.ID()) {
		t.Errorf("after Close, %s is still there", f)
	}
	eventually(t, time.Second, "a still sees b", func() bool { _, err := a.Node(b.ID()); return errors.Is(err, ErrNotFound) })
}

// leftovers lists the files of node id in a's namespace.
func leftovers(t testing.TB, a *Registry, id uint64) []string {
	names, err := a.Dir().List()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range names {
		if strings.Contains(f, hexID(id)) {
			out = append(out, f)
		}
		if strings.HasPrefix(f, exclusivePrefix) {
			if e, err := a.readEntry(f); err == nil && e.Node == id {
				out = append(out, f)
			}
		}
	}
	return out
}

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"orders", true}, {"orders/eu-1", true}, {"a.b.c", true}, {"*>:@~", true}, {strings.Repeat("n", MaxNameLen), true},
		{"", false}, {".", false}, {"..", false}, {"a b", false}, {"tab\t", false}, {`back\slash`, false}, {`"q"`, false},
		{"naïve", false}, {strings.Repeat("n", MaxNameLen+1), false},
	} {
		if err := ValidName(tc.name); (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidName)) {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	for _, tc := range []struct {
		ns string
		ok bool
	}{{"shop", true}, {"a_b-1.2", true}, {"", false}, {".hidden", false}, {"-x", false}, {"a/b", false}, {"..", false}, {strings.Repeat("x", 65), false}} {
		if err := ValidNamespace(tc.ns); (err == nil) != tc.ok {
			t.Errorf("ValidNamespace(%q) = %v, want ok=%v", tc.ns, err, tc.ok)
		}
	}
	r := join(t, testRoot(t), "v")
	for _, err := range []error{r.Register("a b", ""), r.Subscribe("", ""), r.Unregister(".."), func() error { _, err := r.Lookup("x\x00"); return err }()} {
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("invalid name accepted: %v", err)
		}
	}
	if _, err := Join("../escape", &Options{Root: testRoot(t)}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Join(../escape): %v", err)
	}
}

// Attacks on the namespace directory are refused with errors that name the
// path and what was wrong.
func TestJoinRefusesInsecureNamespace(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T, root string)
		reason string
	}{
		{"symlink", func(t *testing.T, root string) {
			os.MkdirAll(filepath.Join(root, "elsewhere"), 0o700)
			os.Symlink(filepath.Join(root, "elsewhere"), filepath.Join(root, "ns"))
		}, "symlink"},
		{"mode 0777", func(t *testing.T, root string) {
			os.MkdirAll(filepath.Join(root, "ns"), 0o700)
			os.Chmod(filepath.Join(root, "ns"), 0o777)
		}, "mode 0777"},
		{"foreign owner", func(t *testing.T, root string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to chown; CI runs as root")
			}
			os.MkdirAll(filepath.Join(root, "ns"), 0o700)
			os.Chown(filepath.Join(root, "ns"), 65534, 65534)
		}, "owned by uid 65534"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := testRoot(t)
			os.MkdirAll(root, 0o700)
			tc.setup(t, root)
			_, err := Join("ns", &Options{Root: root})
			var ie *shm.InsecureError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.reason) || !strings.Contains(err.Error(), filepath.Join(root, "ns")) {
				t.Fatalf("Join = %v, want an InsecureError about %q naming the path", err, tc.reason)
			}
		})
	}
}

// Garbage in a record file does not break a node: a malformed node record
// is ignored (and logged), a malformed name record is reaped.
func TestGarbageRecords(t *testing.T) {
	root := testRoot(t)
	a := join(t, root, "ns")
	dir := filepath.Join(root, "ns")
	os.WriteFile(filepath.Join(dir, nodeFile(0x1234)), []byte("garbage"), 0o600)
	os.WriteFile(filepath.Join(dir, exclusiveFile("blocked")), []byte("garbage"), 0o600)
	if _, err := a.Node(0x1234); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("garbage node record: %v", err)
	}
	if err := a.Register("blocked", ""); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("register over a garbage record: %v", err)
	}
	if _, err := a.Reap(); err != nil {
		t.Fatal(err)
	}
	if err := a.Register("blocked", ""); err != nil {
		t.Fatalf("register after the garbage was reaped: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, nodeFile(0x1234))); !os.IsNotExist(err) {
		t.Fatalf("garbage node record of a dead node kept: %v", err)
	}
	b := join(t, root, "ns") // a second node joins through all of it
	eventually(t, time.Second, "b sees a", func() bool { _, err := b.Node(a.ID()); return err == nil })
}

// A node that joined and left between two looks of a watcher is still
// reported gone, once, by its ID: the watcher may have talked to it and
// must let go of what it holds for it.
func TestNodeLeftBetweenLooks(t *testing.T) {
	root := testRoot(t)
	a := join(t, root, "ns")
	var mu sync.Mutex
	var left []uint64
	stop := a.Watch(func(ev Event) {
		if ev.Kind == NodeLeft {
			mu.Lock()
			left = append(left, ev.Node.ID)
			mu.Unlock()
		}
	})
	defer stop()
	const gone = 0x1234abcd // never joined as far as a's view knows
	// The changelog names the node's file twice (its join and its
	// leave); both looks find it missing.
	a.refresh(nodeFile(gone))
	a.refresh(nodeFile(gone))
	mu.Lock()
	defer mu.Unlock()
	if len(left) != 1 || left[0] != gone {
		t.Fatalf("NodeLeft events for %x, want one for %x", left, uint64(gone))
	}
}

// A node seen joining and then leaving is reported gone once, however
// many more changelog entries name its record (every reaper that removes
// a dead node's files logs each removal, found or not).
func TestNodeLeftOnce(t *testing.T) {
	root := testRoot(t)
	a := join(t, root, "ns")
	var mu sync.Mutex
	var left []uint64
	stop := a.Watch(func(ev Event) {
		if ev.Kind == NodeLeft {
			mu.Lock()
			left = append(left, ev.Node.ID)
			mu.Unlock()
		}
	})
	defer stop()
	b := join(t, root, "ns")
	id := b.ID()
	a.refresh(nodeFile(id))
	if _, err := a.Node(id); err != nil {
		t.Fatalf("b not seen: %v", err)
	}
	b.Close()
	for range 3 {
		a.refresh(nodeFile(id))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(left) != 1 || left[0] != id {
		t.Fatalf("NodeLeft events for %x, want one for %x", left, id)
	}
}
