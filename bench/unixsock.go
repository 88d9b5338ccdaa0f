package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The Unix socket peer of the comparison: what a Go program does by hand
// for local traffic. Frames are a 4-byte little-endian length and the
// payload, read and written through bufio with 64 KiB buffers; the child
// listens, the parent dials.

func init() {
	childRoles["unix-node"] = childUnixNode
}

const (
	envSock   = "BENCH_SOCK"
	envMode   = "BENCH_MODE"
	sockBufSz = 64 << 10
)

// frameConn is one end of a framed stream.
type frameConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func newFrameConn(c net.Conn) *frameConn {
	return &frameConn{c: c, r: bufio.NewReaderSize(c, sockBufSz), w: bufio.NewWriterSize(c, sockBufSz)}
}

// write buffers one frame.
func (f *frameConn) write(p []byte) error {
	var h [4]byte
	binary.LittleEndian.PutUint32(h[:], uint32(len(p)))
	f.w.Write(h[:])
	_, err := f.w.Write(p)
	return err
}

// read reads one frame into buf, growing it as needed.
func (f *frameConn) read(buf []byte) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(f.r, h[:]); err != nil {
		return buf, err
	}
	n := int(binary.LittleEndian.Uint32(h[:]))
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(f.r, buf)
	return buf, err
}

// startUnixNode starts a child listening on a new socket in dir, in mode
// "echo" or "send", and connects to it.
func startUnixNode(dir, mode string, env ...string) (*peer, *frameConn, error) {
	path := filepath.Join(dir, fmt.Sprintf("s%d", nsSeq.Add(1)))
	p, _, err := startReady("unix-node", append([]string{envSock + "=" + path, envMode + "=" + mode}, env...)...)
	if err != nil {
		return nil, nil, err
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		p.kill()
		return nil, nil, err
	}
	return p, newFrameConn(c), nil
}

// benchUnixRTT times n round trips of a size-byte frame, each flushed and
// echoed back.
func benchUnixRTT(dir string, size, n int) (result, error) {
	return framedRTT(func(mode string, env ...string) (*peer, *frameConn, error) {
		return startUnixNode(dir, mode, env...)
	}, size, n)
}

// framedRTT is benchUnixRTT over the framed stream start makes.
func framedRTT(start func(mode string, env ...string) (*peer, *frameConn, error), size, n int) (result, error) {
	p, fc, err := start("echo")
	if err != nil {
		return result{}, err
	}
	defer p.kill()
	msg := make([]byte, size)
	buf := make([]byte, size)
	samples, err := timeLoop(n, func() error {
		if err := fc.write(msg); err != nil {
			return err
		}
		if err := fc.w.Flush(); err != nil {
			return err
		}
		if buf, err = fc.read(buf); err != nil {
			return err
		}
		if len(buf) != size {
			return fmt.Errorf("echo of %d bytes, want %d", len(buf), size)
		}
		return nil
	})
	if err != nil {
		return result{}, err
	}
	fc.c.Close()
	return latencyResult("compare", "", size, samples), p.wait()
}

// benchUnixStream times n size-byte frames written by the child, from the
// go-ahead to the last one read here.
func benchUnixStream(dir string, size, n int) (result, error) {
	return framedStream(func(mode string, env ...string) (*peer, *frameConn, error) {
		return startUnixNode(dir, mode, env...)
	}, size, n)
}

// framedStream is benchUnixStream over the framed stream start makes.
func framedStream(start func(mode string, env ...string) (*peer, *frameConn, error), size, n int) (result, error) {
	p, fc, err := start("send", envN+"="+strconv.Itoa(n), envSize+"="+strconv.Itoa(size))
	if err != nil {
		return result{}, err
	}
	defer p.kill()
	defer fc.c.Close()
	buf := make([]byte, size)
	t0 := time.Now()
	p.send("send")
	for i := range n {
		if buf, err = fc.read(buf); err != nil {
			return result{}, fmt.Errorf("frame %d of %d: %w", i, n, err)
		}
	}
	el := time.Since(t0)
	if err := expectOK(p, "sent"); err != nil {
		return result{}, err
	}
	return rateResult("compare", "", size, n, el), p.wait()
}

// childUnixNode listens on BENCH_SOCK and serves one connection: in mode
// "echo" it returns every frame; in mode "send", on "send" it writes
// BENCH_N frames of BENCH_SIZE bytes and prints "sent".
func childUnixNode() error {
	ln, err := net.Listen("unix", os.Getenv(envSock))
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

// serveFrames serves one framed connection as the child of startUnixNode
// or startStreamNode does.
func serveFrames(c net.Conn) error {
	defer c.Close()
	fc := newFrameConn(c)
	var err error
	if os.Getenv(envMode) == "send" {
		if readLine() != "send" {
			return nil
		}
		n, msg := envInt(envN), make([]byte, envInt(envSize))
		for range n {
			if err := fc.write(msg); err != nil {
				return err
			}
		}
		if err := fc.w.Flush(); err != nil {
			return err
		}
		fmt.Println("sent ok")
		readLine()
		return nil
	}
	var buf []byte
	for {
		if buf, err = fc.read(buf); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if err := fc.write(buf); err != nil {
			return err
		}
		if err := fc.w.Flush(); err != nil {
			return err
		}
	}
}
