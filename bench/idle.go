package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/shmactor/shmactor/stream"
	"github.com/shmactor/shmactor/topic"
)

// The idle cost of a System: a child joins a namespace, spawns an actor
// and subscribes to a subject, answers one request and one publication
// from this process (so that both nodes have met), and then sits idle
// while it measures its own CPU time.

func init() {
	childRoles["idle-node"] = childIdleNode
}

const (
	envIdleFor    = "BENCH_IDLE_FOR"
	envIdleStream = "BENCH_IDLE_STREAM"
)

// benchIdle returns the child's CPU time over idle as a percentage of one
// CPU. With withStream, the child also listens on the stream "idle", this
// process dials it and both ends exchange a few bytes, then each end
// sits in a Read for the whole idle time.
func benchIdle(root string, idle time.Duration, withStream bool) (result, error) {
	ns := fmt.Sprintf("bench%d", nsSeq.Add(1))
	sys, err := joinBench(root, ns, false)
	if err != nil {
		return result{}, err
	}
	defer sys.Close()
	p, _, err := startReady("idle-node", envRoot+"="+root, envNS+"="+ns, envIdleFor+"="+idle.String(), envIdleStream+"="+strconv.FormatBool(withStream))
	if err != nil {
		return result{}, err
	}
	defer p.kill()
	name := "shmactor idle System (1 actor, 1 subscription)"
	if withStream {
		name = "shmactor idle System and an idle stream"
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := stream.Dial(ctx, sys, "idle")
		cancel()
		if err != nil {
			return result{}, err
		}
		defer c.Close()
		if err := echoOnce(c); err != nil {
			return result{}, err
		}
		go io.Copy(io.Discard, c) // a Read waiting the whole time
	}
	pid, err := sys.Lookup("idle")
	if err != nil {
		return result{}, err
	}
	if _, err := sys.Root.RequestFuture(pid, blob(64), 10*time.Second).Result(); err != nil {
		return result{}, err
	}
	if err := topic.Publish(sys, "bench.idle", blob(64)); err != nil {
		return result{}, err
	}
	if err := p.send("idle"); err != nil {
		return result{}, err
	}
	line, err := p.expect("cpu")
	if err != nil {
		return result{}, err
	}
	var cpu, wall int64
	if _, err := fmt.Sscan(line, &cpu, &wall); err != nil {
		return result{}, fmt.Errorf("idle child: %q: %v", line, err)
	}
	peer := peerSealed
	if withStream {
		peer = peerStream
	}
	r := result{Bench: "compare", Name: name, Peer: peer, Pattern: patIdle}
	r.CPU = 100 * float64(cpu) / float64(wall)
	return r, p.wait()
}

// childIdleNode joins, spawns "idle" (an echo actor) and subscribes to
// "bench.idle"; on "idle" it waits until the publication has arrived,
// settles for 100 ms, then prints "cpu <ns> <ns>": the CPU time it used
// over BENCH_IDLE_FOR and that wall time.
func childIdleNode() error {
	sys, err := joinBench(os.Getenv(envRoot), os.Getenv(envNS), false)
	if err != nil {
		return err
	}
	defer sys.Close()
	if _, err := sys.SpawnNamed(echoProps(), "idle"); err != nil {
		return err
	}
	published := make(chan struct{}, 1)
	if _, err := topic.SubscribeFunc(sys, "bench.idle", func(string, any) {
		select {
		case published <- struct{}{}:
		default:
		}
	}); err != nil {
		return err
	}
	idle, err := time.ParseDuration(os.Getenv(envIdleFor))
	if err != nil {
		return err
	}
	var accepted chan error
	if os.Getenv(envIdleStream) == "true" {
		ln, err := stream.Listen(sys, "idle")
		if err != nil {
			return err
		}
		defer ln.Close()
		accepted = make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				accepted <- err
				return
			}
			defer c.Close()
			_, err = io.CopyN(c, c, 1) // echo one byte, then sit in the next Read
			accepted <- err
			io.Copy(io.Discard, c)
		}()
	}
	fmt.Println("ready")
	if cmd := readLine(); cmd != "idle" {
		return fmt.Errorf("unknown command %q", cmd)
	}
	if err := awaitPong(published); err != nil {
		return err
	}
	if accepted != nil {
		if err := <-accepted; err != nil {
			return err
		}
	}
	time.Sleep(100 * time.Millisecond)
	c0, err := cpuTime()
	if err != nil {
		return err
	}
	t0 := time.Now()
	time.Sleep(idle)
	c1, err := cpuTime()
	if err != nil {
		return err
	}
	fmt.Println("cpu", strconv.FormatInt(int64(c1-c0), 10), strconv.FormatInt(int64(time.Since(t0)), 10))
	readLine()
	return nil
}

// echoOnce writes one byte to c and reads it back.
func echoOnce(c io.ReadWriter) error {
	if _, err := c.Write([]byte{1}); err != nil {
		return err
	}
	_, err := io.ReadFull(c, make([]byte, 1))
	return err
}
