package shm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
)

func init() {
	helpers["lock-holder"] = func() error {
		d, err := OpenDir(os.Getenv(envDir), nil)
		if err != nil {
			return err
		}
		l, err := d.OpenLock("the.lock")
		if err != nil {
			return err
		}
		if err := l.Lock(time.Minute); err != nil {
			return err
		}
		fmt.Println("locked")
		select {}
	}
}

func TestWriteReadFile(t *testing.T) {
	d := openTestDir(t)
	if err := d.WriteFile("rec", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFile("rec", []byte("again")); !errors.Is(err, ErrExist) {
		t.Fatalf("second WriteFile: %v, want ErrExist", err)
	}
	b, err := d.ReadFile("rec", 100)
	if err != nil || string(b) != "hello" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	if fi, _ := os.Stat(filepath.Join(d.Path(), "rec")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	if _, err := d.ReadFile("rec", 4); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadFile over max: %v", err)
	}
	if _, err := d.ReadFile("missing", 4); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadFile missing: %v", err)
	}
	os.Symlink(filepath.Join(d.Path(), "rec"), filepath.Join(d.Path(), "link"))
	if _, err := d.ReadFile("link", 100); !errors.Is(err, ErrInsecure) {
		t.Fatalf("ReadFile through a symlink: %v", err)
	}
	// Many writers race for one name: exactly one wins.
	var wg sync.WaitGroup
	wins := make(chan int, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if d.WriteFile("claim", []byte{byte(i)}) == nil {
				wins <- i
			}
		}()
	}
	wg.Wait()
	close(wins)
	if n := len(wins); n != 1 {
		t.Fatalf("%d writers won the same name", n)
	}
	names, _ := d.List()
	for _, n := range names {
		if len(n) > 4 && n[:4] == tmpPrefix {
			t.Fatalf("temporary file %s left behind", n)
		}
	}
}

func TestLockAcrossProcesses(t *testing.T) {
	d := openTestDir(t)
	p := testproc.Start(t, "lock-holder", envDir+"="+d.Path())
	p.Expect(t, "locked", time.Minute)
	l, err := d.OpenLock("the.lock")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if ok, err := l.TryLock(); ok || err != nil {
		t.Fatalf("TryLock on a held lock = %v, %v", ok, err)
	}
	if err := l.Lock(50 * time.Millisecond); err == nil {
		t.Fatal("Lock on a held lock succeeded")
	}
	p.Kill()
	p.Wait(time.Minute)
	if err := l.Lock(10 * time.Second); err != nil {
		t.Fatalf("lock of a dead holder not released: %v", err)
	}
}

func TestRemoveStaleTemp(t *testing.T) {
	d := openTestDir(t)
	dead := filepath.Join(d.Path(), tmpPrefix+"999999999-abc")
	mine := filepath.Join(d.Path(), fmt.Sprintf("%s%d-def", tmpPrefix, os.Getpid()))
	for _, p := range []string{dead, mine} {
		os.WriteFile(p, nil, 0o600)
	}
	n, err := d.RemoveStaleTemp(time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("RemoveStaleTemp = %d, %v", n, err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Fatal("temporary file of a dead pid kept")
	}
	if _, err := os.Stat(mine); err != nil {
		t.Fatal("temporary file of a live pid removed")
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(mine, old, old)
	if n, _ := d.RemoveStaleTemp(time.Hour); n != 1 {
		t.Fatalf("old temporary file of a live pid kept (%d)", n)
	}
}
