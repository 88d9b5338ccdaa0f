package shm

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
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
