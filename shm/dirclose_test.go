package shm

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Close while other goroutines use the directory: calls that began
// before it finish with the descriptor they started with, later ones
// fail with ErrClosed. Close used to close the descriptor under their
// feet (a data race, and an openat on whatever file got the number).
func TestDirCloseDuringUse(t *testing.T) {
	for range 20 {
		d, err := OpenDir(filepath.Join(t.TempDir(), "ns"), &DirOptions{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.WriteFile("f", []byte("x")); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					_, err1 := d.ReadFile("f", 16)
					_, err2 := d.List()
					for _, err := range []error{err1, err2} {
						if err != nil && !errors.Is(err, ErrClosed) {
							t.Error(err)
							return
						}
					}
					if errors.Is(err1, ErrClosed) && errors.Is(err2, ErrClosed) {
						return
					}
				}
			}()
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
	}
}

// closeWhile runs use in four goroutines until it reports ErrClosed,
// closes d meanwhile, and fails if Close or the users do not finish.
func closeWhile(t *testing.T, d *Dir, use func(i, n int) error) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				err := use(i, n)
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan error, 1)
	go func() {
		time.Sleep(time.Millisecond)
		done <- d.Close()
		wg.Wait()
		close(done)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		<-done
	case <-time.After(time.Minute):
		t.Fatal("Close and the calls using the directory still blocked after a minute")
	}
}

// OpenLock of a missing lock file creates it while holding off Close; it
// must not wait a second time for Close to let it through, which Close,
// waiting for OpenLock, never does.
func TestDirCloseDuringOpenLock(t *testing.T) {
	for range 50 {
		d, err := OpenDir(filepath.Join(t.TempDir(), "ns"), &DirOptions{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		closeWhile(t, d, func(i, n int) error {
			l, err := d.OpenLock(fmt.Sprintf("lock-%d-%d", i, n))
			if err == nil {
				l.Close()
			}
			return err
		})
	}
}

// Rename goes through the directory's descriptor too: Close must not
// close it under a rename, which would then act on whatever file got the
// descriptor's number.
func TestDirCloseDuringRename(t *testing.T) {
	for range 20 {
		d, err := OpenDir(filepath.Join(t.TempDir(), "ns"), &DirOptions{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		var segs [4]*Segment
		for i := range segs {
			if segs[i], err = d.CreateSegment(fmt.Sprintf("seg-%d", i), KindRing, 64, nil); err != nil {
				t.Fatal(err)
			}
			defer segs[i].Close()
		}
		closeWhile(t, d, func(i, n int) error {
			return segs[i].Rename(fmt.Sprintf("seg-%d-%d", i, n))
		})
	}
}

// A fault the runtime reports without its address makes the segment's
// guard measure the file through the directory: that must not race with
// Close either, nor wait for it (the guard may run inside a call that
// holds Close off).
func TestDirCloseDuringFaultCheck(t *testing.T) {
	for range 20 {
		d, err := OpenDir(filepath.Join(t.TempDir(), "ns"), &DirOptions{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		seg, err := d.CreateSegment("seg", KindRing, 64, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer seg.Close()
		closeWhile(t, d, func(i, n int) (err error) {
			if isClosed(d) {
				return ErrClosed
			}
			defer func() {
				if r := recover(); r != nil {
					err = nil // not the segment's fault: re-raised, as it should be
				}
			}()
			err = seg.Do(func() error {
				var p *int
				_ = *p
				return nil
			})
			if errors.Is(err, ErrFault) {
				err = nil // once Close began the file cannot be measured
			}
			return err
		})
	}
}

func isClosed(d *Dir) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}
