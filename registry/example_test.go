package registry_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/shmactor/shmactor/registry"
)

func Example() {
	root, _ := os.MkdirTemp("", "registry-example")
	defer os.RemoveAll(root)

	// Two nodes join the namespace "shop" (in real use, two processes).
	a, _ := registry.Join("shop", &registry.Options{Root: root})
	defer a.Close()
	b, _ := registry.Join("shop", &registry.Options{Root: root})
	defer b.Close()

	a.Register("orders", "$1")
	e, _ := b.Lookup("orders")
	fmt.Println("orders is held by node a:", e.Node == a.ID())

	err := b.Register("orders", "$7")
	fmt.Println("b may not take it:", errors.Is(err, registry.ErrNameTaken))
	// Output:
	// orders is held by node a: true
	// b may not take it: true
}
