package shm_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shmactor/shmactor/shm"
)

func Example() {
	base, _ := os.MkdirTemp("", "shm-example")
	defer os.RemoveAll(base)

	d, err := shm.OpenDir(filepath.Join(base, "ns"), &shm.DirOptions{Create: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()

	// One process creates the ring; others would shm.OpenRing it by name.
	r, err := shm.CreateRing(d, "inbox", &shm.RingConfig{Cells: 64})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()

	ctx := context.Background()
	r.Push(ctx, []byte("hello"))
	r.PushBatch(ctx, [][]byte{[]byte("from"), []byte("shared memory")})

	rec, _ := r.Pop(ctx, nil)
	fmt.Println(string(rec))
	r.PopBatch(ctx, 10, func(rec []byte) { fmt.Println(string(rec)) })

	_, err = r.TryPop(nil)
	fmt.Println(err != nil)
	// Output:
	// hello
	// from
	// shared memory
	// true
}
