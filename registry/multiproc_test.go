package registry

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/shm"
)

const (
	envRoot  = "REG_ROOT"
	envNS    = "REG_NS"
	envNames = "REG_NAMES"
)

func init() {
	helpers["racer"] = helperRacer
	helpers["holder"] = helperHolder
}

func helperJoin() (*Registry, error) {
	return Join(os.Getenv(envNS), &Options{Root: os.Getenv(envRoot)})
}

// helperRacer registers "race-N" for every "round N" line on stdin and
// reports the outcome.
func helperRacer() error {
	r, err := helperJoin()
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Println("ready", hexID(r.ID()))
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		n, ok := strings.CutPrefix(sc.Text(), "round ")
		if !ok {
			continue
		}
		err := r.Register("race-"+n, "")
		var nt *NameTakenError
		switch {
		case err == nil:
			fmt.Println("result", n, "won")
		case errors.As(err, &nt):
			fmt.Println("result", n, "taken", hexID(nt.Holder))
		default:
			fmt.Println("result", n, "error", err)
		}
	}
	return nil
}

// helperHolder holds the names in REG_NAMES, a subscription and a segment,
// then waits to be killed.
func helperHolder() error {
	r, err := helperJoin()
	if err != nil {
		return err
	}
	for _, n := range strings.Split(os.Getenv(envNames), ",") {
		if err := r.Register(n, "$1"); err != nil {
			return err
		}
	}
	if err := r.Subscribe("topic.a", "$2"); err != nil {
		return err
	}
	seg, err := r.Dir().CreateSegment(NodeFile("inbox", r.ID()), shm.KindUser, 4096, nil)
	if err != nil {
		return err
	}
	_ = seg
	fmt.Println("ready", hexID(r.ID()))
	select {}
}

func rounds() int {
	if testproc.Emulated() {
		return 20
	}
	return 100
}

// 8 processes race to register the same name, 100 times: each time
// exactly one wins and the others are told who holds it.
func TestRaceForName(t *testing.T) {
	root := testRoot(t)
	env := []string{envRoot + "=" + root, envNS + "=race"}
	var ps []*testproc.Proc
	ids := map[string]bool{}
	for range 8 {
		p := testproc.Start(t, "racer", env...)
		ids[p.Expect(t, "ready", time.Minute)] = true
		ps = append(ps, p)
	}
	for n := range rounds() {
		for _, p := range ps {
			p.Send(fmt.Sprint("round ", n))
		}
		won, holders := 0, map[string]bool{}
		winner := ""
		for _, p := range ps {
			res := strings.Fields(p.Expect(t, fmt.Sprint("result ", n, " "), time.Minute))
			switch res[0] {
			case "won":
				won++
				winner = p.Name
			case "taken":
				holders[res[1]] = true
			default:
				t.Fatalf("round %d: %s", n, strings.Join(res, " "))
			}
		}
		if won != 1 || len(holders) != 1 {
			t.Fatalf("round %d: %d winners, losers named holders %v", n, won, holders)
		}
		for h := range holders {
			if !ids[h] {
				t.Fatalf("round %d: losers named %s, not a racer", n, h)
			}
		}
		_ = winner
	}
}

// A process killed with SIGKILL has its names freed and its files removed
// within a second, as seen from another process, which can then take the
// names.
func TestKilledOwnerReaped(t *testing.T) {
	root := testRoot(t)
	p := testproc.Start(t, "holder", envRoot+"="+root, envNS+"=k", envNames+"=alpha,beta")
	id, _ := strconv.ParseUint(p.Expect(t, "ready", time.Minute), 16, 64)
	me := join(t, root, "k")
	if e, err := me.Lookup("alpha"); err != nil || e.Node != id {
		t.Fatalf("Lookup alpha = %+v, %v", e, err)
	}
	left := make(chan time.Time, 1)
	stop := me.Watch(func(ev Event) {
		if ev.Kind == NodeLeft && ev.Node.ID == id {
			left <- time.Now()
		}
	})
	defer stop()
	p.Kill()
	killed := time.Now()
	took := eventually(t, 5*time.Second, "dead holder's names and files still there", func() bool {
		_, e1 := me.Lookup("alpha")
		_, e2 := me.Lookup("beta")
		return errors.Is(e1, ErrNotFound) && errors.Is(e2, ErrNotFound) && len(me.Holders("topic.a")) == 0 && len(leftovers(t, me, id)) == 0
	})
	t.Logf("names free and files gone %v after the kill", took)
	if took > time.Second {
		t.Errorf("reaping took %v, want at most 1s", took)
	}
	select {
	case at := <-left:
		t.Logf("NodeLeft seen %v after the kill", at.Sub(killed))
	case <-time.After(time.Second):
		t.Error("no NodeLeft event")
	}
	for _, n := range []string{"alpha", "beta"} {
		if err := me.Register(n, ""); err != nil {
			t.Fatalf("taking %s after its holder died: %v", n, err)
		}
	}
}

// A namespace left behind by processes that all crashed is cleaned on the
// next join.
func TestCrashedNamespaceCleanedOnJoin(t *testing.T) {
	root := testRoot(t)
	var ids []uint64
	for i := range 3 {
		p := testproc.Start(t, "holder", envRoot+"="+root, envNS+"=c", fmt.Sprintf("%s=n%d,shared-%d", envNames, i, i))
		id, _ := strconv.ParseUint(p.Expect(t, "ready", time.Minute), 16, 64)
		ids = append(ids, id)
		p.Kill()
		p.Wait(time.Minute)
	}
	before, _ := os.ReadDir(root + "/c")
	me := join(t, root, "c")
	for _, id := range ids {
		if left := leftovers(t, me, id); len(left) != 0 {
			t.Errorf("after join, node %016x left %v (of %d files before)", id, left, len(before))
		}
	}
	for i := range 3 {
		if err := me.Register(fmt.Sprintf("n%d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	if nodes := me.Nodes(); len(nodes) != 1 || nodes[0].ID != me.ID() {
		t.Fatalf("nodes after cleanup: %+v", nodes)
	}
}
