package actor

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/shm"
)

func init() {
	helpers["one-request"] = helperOneRequest
}

// helperOneRequest joins, asks "echo" once, and closes.
func helperOneRequest() error {
	s, err := helperJoin()
	if err != nil {
		return err
	}
	defer s.Close()
	pid, err := s.Lookup("echo")
	if err != nil {
		return err
	}
	res, err := s.Root.RequestFuture(pid, &Ping{N: 1}, 10*time.Second).Result()
	if _, ok := res.(*Pong); err != nil || !ok {
		return fmt.Errorf("request: %v, %v", res, err)
	}
	return nil
}

// A long-lived node that answers short-lived ones, each of which joins,
// asks once and closes, keeps nothing of them: no mapping of a removed
// segment, no goroutine, no lease file. SHMACTOR_SOAK=1 runs 500 of them.
func TestShortLivedPeersLeaveNothing(t *testing.T) {
	cycles := 40
	if os.Getenv("SHMACTOR_SOAK") != "" {
		cycles = 500
	}
	if testproc.Emulated() || raceEnabled {
		cycles = 12
	}
	root := testproc.TempDir(t)
	s := joinT(t, root, "short")
	if _, err := s.SpawnNamed(echo("echo"), "echo"); err != nil {
		t.Fatal(err)
	}
	settle := func() int {
		time.Sleep(300 * time.Millisecond)
		// A closed ring handle's mapping goes when the handle is
		// collected (shm: no operation may still run on it).
		runtime.GC()
		return runtime.NumGoroutine()
	}
	before := settle()
	// Four at a time: joins and leaves overlap, as they do in life.
	for i := 0; i < cycles; i += 4 {
		var ps []*testproc.Proc
		for range min(4, cycles-i) {
			ps = append(ps, testproc.Start(t, "one-request", env(root, "short")...))
		}
		for _, p := range ps {
			if err := p.Wait(30 * time.Second); err != nil {
				t.Fatalf("cycle %d: %v: %s", i, err, p.Stderr())
			}
		}
	}
	// Let the registry report the last departures and the inbox drain.
	var maps []string
	var goroutines int
	var leases []string
	for deadline := time.Now().Add(10 * time.Second); ; {
		maps, goroutines, leases = deletedMappings(t, root), settle(), leaseFiles(t, root, "short")
		if len(maps) == 0 && goroutines <= before+2 && len(leases) == 1 || time.Now().After(deadline) {
			break
		}
	}
	if len(maps) != 0 {
		t.Errorf("%d mappings of removed segments after %d peers came and went: %s", len(maps), cycles, strings.Join(maps, "; "))
	}
	if goroutines > before+2 {
		t.Errorf("%d goroutines after %d peers came and went, %d before", goroutines, cycles, before)
	}
	if len(leases) != 1 {
		t.Errorf("lease files %v, want only this node's", leases)
	}
}

// deletedMappings lists this process's mappings of files under root that
// were removed. A segment made under a temporary name and then linked
// under its own shows as deleted by its first name: its inode, still in
// the directory, tells it apart.
func deletedMappings(t *testing.T, root string) []string {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string]bool{}
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				if st, ok := info.Sys().(*syscall.Stat_t); ok {
					linked[strconv.FormatUint(st.Ino, 10)] = true
				}
			}
		}
		return nil
	})
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		// address perms offset dev inode path (deleted)
		if len(f) >= 7 && strings.Contains(line, root) && f[len(f)-1] == "(deleted)" && !linked[f[4]] {
			out = append(out, f[len(f)-2])
		}
	}
	return out
}

// leaseFiles lists the lease files of namespace ns under root.
func leaseFiles(t *testing.T, root, ns string) []string {
	entries, err := os.ReadDir(filepath.Join(root, ns))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if _, ok := shm.ParseLeaseName(e.Name()); ok {
			out = append(out, e.Name())
		}
	}
	return out
}
