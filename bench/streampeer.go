package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/shmactor/shmactor/stream"
)

// The stream peer of the comparison: the Unix socket peer's framing and
// child, over a stream.Listen listener and stream.Dial instead of a
// socket, sealed or plaintext.

func init() {
	childRoles["stream-node"] = childStreamNode
}

// startStreamNode starts a child listening on a stream in a namespace of
// its own, in mode "echo" or "send", and dials it. close leaves the
// namespace.
func startStreamNode(root string, plain bool, mode string, env ...string) (p *peer, fc *frameConn, close func(), err error) {
	ns := fmt.Sprintf("bench%d", nsSeq.Add(1))
	p, _, err = startReady("stream-node", append([]string{envRoot + "=" + root, envNS + "=" + ns, envMode + "=" + mode, envPlain + "=" + strconv.FormatBool(plain)}, env...)...)
	if err != nil {
		return nil, nil, nil, err
	}
	sys, err := joinBench(root, ns, plain)
	if err != nil {
		p.kill()
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := stream.Dial(ctx, sys, "bench")
	if err != nil {
		sys.Close()
		p.kill()
		return nil, nil, nil, err
	}
	return p, newFrameConn(c), func() { c.Close(); sys.Close() }, nil
}

// benchStreamRTT is benchUnixRTT over a stream.
func benchStreamRTT(root string, plain bool, size, n int) (result, error) {
	var done func()
	defer func() {
		if done != nil {
			done()
		}
	}()
	return framedRTT(func(mode string, env ...string) (*peer, *frameConn, error) {
		p, fc, close, err := startStreamNode(root, plain, mode, env...)
		done = close
		return p, fc, err
	}, size, n)
}

// benchStreamBulk is benchUnixStream over a stream.
func benchStreamBulk(root string, plain bool, size, n int) (result, error) {
	var done func()
	defer func() {
		if done != nil {
			done()
		}
	}()
	return framedStream(func(mode string, env ...string) (*peer, *frameConn, error) {
		p, fc, close, err := startStreamNode(root, plain, mode, env...)
		done = close
		return p, fc, err
	}, size, n)
}

// childStreamNode joins BENCH's namespace, listens on the stream "bench"
// and serves one stream as childUnixNode serves its connection.
func childStreamNode() error {
	sys, err := joinBench(os.Getenv(envRoot), os.Getenv(envNS), os.Getenv(envPlain) == "true")
	if err != nil {
		return err
	}
	defer sys.Close()
	ln, err := stream.Listen(sys, "bench")
	if err != nil {
		return err
	}
	fmt.Println("ready")
	c, err := ln.Accept()
	ln.Close()
	if err != nil {
		return err
	}
	return serveFrames(c)
}
