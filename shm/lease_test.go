package shm

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
)

func init() {
	helpers["lease-holder"] = func() error {
		d, err := OpenDir(os.Getenv(envDir), nil)
		if err != nil {
			return err
		}
		l, err := d.Lease()
		if err != nil {
			return err
		}
		fmt.Println("lease", l.ID(), l.PID(), l.StartTime())
		select {}
	}
	helpers["doorbell-waiter"] = func() error {
		d, err := OpenDir(os.Getenv(envDir), nil)
		if err != nil {
			return err
		}
		s, err := d.OpenSegment("bell", KindUser)
		if err != nil {
			return err
		}
		db, _ := s.Doorbell(0)
		w, _ := s.Word32(64)
		fmt.Println("waiting")
		for start := time.Now(); time.Since(start) < time.Minute; {
			if db.Wait(func() (bool, time.Duration) { return w.Load() != 0, time.Minute }) {
				break
			}
		}
		fmt.Println("woke", w.Load())
		return nil
	}
	helpers["word-waiter"] = func() error {
		d, err := OpenDir(os.Getenv(envDir), nil)
		if err != nil {
			return err
		}
		s, err := d.OpenSegment("words", KindUser)
		if err != nil {
			return err
		}
		w, _ := s.Word32(0)
		fmt.Println("waiting")
		start := time.Now()
		for w.Load() == 0 && time.Since(start) < time.Minute {
			w.Wait(0, time.Minute)
		}
		fmt.Println("woke", w.Load())
		return nil
	}
}

func TestLeaseLiveness(t *testing.T) {
	d := openTestDir(t)
	mine, err := d.Lease()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := d.Lease(); again != mine {
		t.Fatal("Lease returned a second lease for the same process")
	}
	if alive, err := d.Alive(mine.ID(), 0, 0); !alive || err != nil {
		t.Fatalf("own lease: alive=%v err=%v", alive, err)
	}
	if ok, err := d.RemoveLease(mine.ID()); ok || err != nil {
		t.Fatalf("RemoveLease of a live lease = %v, %v; want refused", ok, err)
	}

	p := testproc.Start(t, "lease-holder", envDir+"="+d.Path())
	var id uint64
	var pid int
	var start uint64
	if _, err := fmt.Sscan(p.Expect(t, "lease", time.Minute), &id, &pid, &start); err != nil {
		t.Fatal(err)
	}
	if alive, err := d.Alive(id, pid, start); !alive || err != nil {
		t.Fatalf("child's lease: alive=%v err=%v", alive, err)
	}
	p.Kill()
	p.Wait(time.Minute)
	if alive, err := d.Alive(id, pid, start); alive || err != nil {
		t.Fatalf("killed child's lease: alive=%v err=%v", alive, err)
	}
	if ok, err := d.RemoveLease(id); !ok || err != nil {
		t.Fatalf("RemoveLease of a dead lease = %v, %v", ok, err)
	}
	if _, err := os.Stat(d.Path() + "/" + LeaseName(id)); !os.IsNotExist(err) {
		t.Fatalf("lease file still there: %v", err)
	}
	// With the lease file gone, the pid and start time decide.
	myStart, _ := procStartTime(os.Getpid())
	for _, tc := range []struct {
		pid   int
		start uint64
		want  bool
	}{
		{os.Getpid(), myStart, true},
		{os.Getpid(), myStart + 1, myStart == 0},
		{pid, start, false},
		{0, 0, false},
	} {
		if got, _ := d.Alive(1234, tc.pid, tc.start); got != tc.want {
			t.Errorf("Alive(missing lease, pid %d, start %d) = %v, want %v", tc.pid, tc.start, got, tc.want)
		}
	}
}

func TestLeaseName(t *testing.T) {
	id := uint64(0x1234abcd)
	got, ok := ParseLeaseName(LeaseName(id))
	if !ok || got != id {
		t.Fatalf("round trip %x -> %q -> %x %v", id, LeaseName(id), got, ok)
	}
	for _, bad := range []string{"lease-", "lease-xyz", "lease-0000000000000000", "seg", "lease-" + strconv.Itoa(12)} {
		if _, ok := ParseLeaseName(bad); ok {
			t.Errorf("ParseLeaseName(%q) accepted", bad)
		}
	}
}

// Wake on a word in shared memory reaches a waiter in another process
// (futex without FUTEX_PRIVATE_FLAG on Linux, polling elsewhere).
func TestWordWaitWakeAcrossProcesses(t *testing.T) {
	d := openTestDir(t)
	s, err := d.CreateSegment("words", KindUser, 64, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, _ := s.Word32(0)
	p := testproc.Start(t, "word-waiter", envDir+"="+d.Path())
	p.Expect(t, "waiting", time.Minute)
	time.Sleep(20 * time.Millisecond) // let it park
	w.Store(7)
	start := time.Now()
	w.Wake(1)
	if got := p.Expect(t, "woke", 30*time.Second); got != "7" {
		t.Fatalf("waiter saw %s, want 7", got)
	}
	// The waiter parks for up to a minute; a working wake returns at once.
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("waiter took %v to wake", took)
	}
}

func TestDirClosed(t *testing.T) {
	d, err := OpenDir(testproc.TempDir(t), &DirOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := d.CreateSegment("x", KindUser, 1, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("CreateSegment on closed dir: %v", err)
	}
	if _, err := d.Lease(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Lease on closed dir: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A doorbell rung in one process wakes a waiter parked in another, and a
// ring with no announced sleeper does not count as one.
func TestDoorbellAcrossProcesses(t *testing.T) {
	d := openTestDir(t)
	s, err := d.CreateSegment("bell", KindUser, 128, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := s.Doorbell(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Doorbell(3); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("misaligned doorbell: %v", err)
	}
	w, _ := s.Word32(64)
	p := testproc.Start(t, "doorbell-waiter", envDir+"="+d.Path())
	p.Expect(t, "waiting", time.Minute)
	for deadline := time.Now().Add(time.Minute); db.Sleepers() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("waiter never announced itself")
		}
	}
	w.Store(9)
	start := time.Now()
	db.Ring(1)
	if got := p.Expect(t, "woke", 30*time.Second); got != "9" {
		t.Fatalf("waiter saw %s, want 9", got)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("waiter took %v to wake", took)
	}
	p.Wait(time.Minute)
	if n := db.Sleepers(); n != 0 {
		t.Fatalf("%d sleepers left after the waiter woke", n)
	}
}
