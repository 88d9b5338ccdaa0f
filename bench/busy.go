package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
)

// -busy: one process per CPU spinning for the whole run, so that every
// peer is measured on a machine with no idle core to wake.

func init() {
	childRoles["hog"] = childHog
}

// startHogs starts n spinning processes and returns a func ending them.
func startHogs(n int) (func(), error) {
	var hogs []*peer
	stop := func() {
		for _, h := range hogs {
			h.kill()
		}
	}
	for range n {
		h, err := startPeer("hog")
		if err != nil {
			stop()
			return nil, err
		}
		hogs = append(hogs, h)
		if _, err := h.expect("ready"); err != nil {
			stop()
			return nil, err
		}
	}
	return stop, nil
}

// childHog spins on one thread until its stdin closes: the parent's end
// of the pipe closes when the parent exits, however it exits.
func childHog() error {
	runtime.GOMAXPROCS(1)
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	fmt.Println("ready")
	for {
	}
}
