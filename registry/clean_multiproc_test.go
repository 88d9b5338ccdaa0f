package registry

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/shm"
)

const envRounds = "REG_ROUNDS"

func init() {
	helpers["joinloop"] = helperJoinLoop
}

// helperJoinLoop joins and leaves the namespace REG_ROUNDS times. After
// each join it checks that its node is in the namespace as a peer finds
// it: the directory, its lease and its record. It prints "fail ..." for
// each join that failed or whose node was not found, then "done".
func helperJoinLoop() error {
	root, ns := os.Getenv(envRoot), os.Getenv(envNS)
	rounds := testproc.EnvInt(envRounds, 200)
	fmt.Println("ready")
	for i := range rounds {
		r, err := Join(ns, &Options{Root: root})
		if err != nil {
			fmt.Println("fail join", i, err)
			continue
		}
		path := filepath.Join(root, ns)
		for _, f := range []string{shm.LeaseName(r.ID()), nodeFile(r.ID()), changelogName} {
			if _, err := os.Lstat(filepath.Join(path, f)); err != nil {
				fmt.Println("fail check", i, err)
			}
		}
		r.Close()
	}
	fmt.Println("done")
	return nil
}

// TestCleanRacingJoin runs Clean over and over while another process
// joins and leaves the namespace: no join may fail for it, and no node
// that joined may find itself out of the namespace.
func TestCleanRacingJoin(t *testing.T) {
	root := testRoot(t)
	rounds := 300
	if testproc.Emulated() {
		rounds = 30
	}
	p := testproc.Start(t, "joinloop", envRoot+"="+root, envNS+"=cl", envRounds+"="+strconv.Itoa(rounds))
	p.Expect(t, "ready", 30*time.Second)
	stop := make(chan struct{})
	cleaned := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				cleaned <- n
				return
			default:
			}
			if ok, err := Clean(root, "cl"); err == nil && ok {
				n++
			}
		}
	}()
	var fails []string
	for {
		line, err := p.ExpectE("", 2*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if line == "done" {
			break
		}
		fails = append(fails, line)
	}
	close(stop)
	n := <-cleaned
	t.Logf("%d cleans removed the namespace", n)
	if len(fails) > 0 {
		t.Errorf("%d of %d joins went wrong under concurrent cleans, first ones: %q", len(fails), rounds, fails)
	}
	if err := p.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
}
