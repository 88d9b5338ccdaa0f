package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/shmactor/shmactor/topic"
)

// The idle cost of a System: a child joins a namespace, spawns an actor
// and subscribes to a subject, answers one request and one publication
// from this process (so that both nodes have met), and then sits idle
// while it measures its own CPU time.

func init() {
	childRoles["idle-node"] = childIdleNode
}

const envIdleFor = "BENCH_IDLE_FOR"

// benchIdle returns the child's CPU time over idle as a percentage of one
// CPU.
func benchIdle(root string, idle time.Duration) (result, error) {
	ns := fmt.Sprintf("bench%d", nsSeq.Add(1))
	sys, err := joinBench(root, ns, false)
	if err != nil {
		return result{}, err
	}
	defer sys.Close()
	p, _, err := startReady("idle-node", envRoot+"="+root, envNS+"="+ns, envIdleFor+"="+idle.String())
	if err != nil {
		return result{}, err
	}
	defer p.kill()
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
	r := result{Bench: "compare", Name: "shmactor idle System (1 actor, 1 subscription)", Peer: peerSealed, Pattern: patIdle}
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
	fmt.Println("ready")
	if cmd := readLine(); cmd != "idle" {
		return fmt.Errorf("unknown command %q", cmd)
	}
	if err := awaitPong(published); err != nil {
		return err
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
