package stream_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/stream"
)

// A memory socket: a server that answers each line with it in capitals,
// and a client that sends two lines and half-closes. The two nodes of
// namespace "sock" live in one process here, so the bytes still cross
// shared memory; in practice each is a process of its own, and the code
// is the same.
func Example() {
	root, _ := os.MkdirTemp("", "shmactor-example-")
	defer os.RemoveAll(root)

	server, err := actor.Join("sock", actor.WithRoot(root))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer server.Close()
	ln, err := stream.Listen(server, "upper")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				lines := bufio.NewScanner(c)
				for lines.Scan() {
					fmt.Fprintln(c, strings.ToUpper(lines.Text()))
				}
			}()
		}
	}()

	client, err := actor.Join("sock", actor.WithRoot(root))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	c, err := stream.Dial(context.Background(), client, "upper")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Fprintln(c, "hello")
	fmt.Fprintln(c, "shared memory")
	c.(interface{ CloseWrite() error }).CloseWrite()
	replies := bufio.NewScanner(c)
	for replies.Scan() {
		fmt.Println(replies.Text())
	}
	fmt.Println("remote:", c.RemoteAddr().Network(), strings.HasSuffix(c.RemoteAddr().String(), "/upper"))
	// Output:
	// HELLO
	// SHARED MEMORY
	// remote: shm true
}
