package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmactor/shmactor/shm"
)

// The ring benchmark: bare limits of the machine between two processes (a
// cache line bounced with atomics, a futex wait/wake, a minimal SPSC
// stream), then the shm ring's round trip and throughput measured against
// them in the same run.

func init() {
	childRoles["cacheline"] = childCacheLine
	childRoles["futex"] = childFutex
	childRoles["ring-echo"] = childRingEcho
	childRoles["ring-produce"] = childRingProduce
	childRoles["spsc-produce"] = childSPSCProduce
}

const (
	envNS    = "BENCH_NS"
	envN     = "BENCH_N"
	envSize  = "BENCH_SIZE"
	envProd  = "BENCH_PRODUCERS"
	envSpin  = "BENCH_SPIN"
	envBatch = "BENCH_BATCH"
	spscCap  = 4096
	spscBody = 4096
)

func envInt(k string) int { v, _ := strconv.Atoi(os.Getenv(k)); return v }

// benchDir makes a private namespace for one run and a func removing it.
func benchDir() (*shm.Dir, func(), error) {
	root, err := shm.DefaultRoot()
	if err != nil {
		return nil, nil, err
	}
	path := filepath.Join(root, fmt.Sprintf("bench-%d", os.Getpid()))
	d, err := shm.OpenDir(path, &shm.DirOptions{Create: true})
	if err != nil {
		return nil, nil, err
	}
	return d, func() { d.Close(); os.RemoveAll(path) }, nil
}

func childDir() (*shm.Dir, error) { return shm.OpenDir(os.Getenv(envNS), nil) }

func runRing(args []string) error {
	cf, err := parseFlags("ring", args, nil)
	if err != nil {
		return err
	}
	d, cleanup, err := benchDir()
	if err != nil {
		return err
	}
	defer cleanup()
	rp := &reporter{json: cf.json}
	rp.header("shmactor ring benchmark: two processes, each figure measured in this run")
	iters, stream := 200_000, 2_000_000
	if cf.quick {
		iters, stream = 20_000, 200_000
	}

	cl, err := benchCacheLine(d, iters)
	if err != nil {
		return fmt.Errorf("cache-line ping-pong: %w", err)
	}
	rp.add(cl)
	fx, err := benchFutex(d, iters/4)
	if err != nil {
		return fmt.Errorf("futex ping-pong: %w", err)
	}
	rp.add(fx)
	for _, spin := range []bool{true, false} {
		r, err := benchRingRTT(d, 64, spin, map[bool]int{true: iters, false: iters / 4}[spin])
		if err != nil {
			return fmt.Errorf("ring round trip: %w", err)
		}
		if spin {
			r.Ratio, r.RatioTo = r.P50/cl.P50, "cache-line p50"
		} else {
			r.Ratio, r.RatioTo = r.P50/fx.P50, "futex p50"
		}
		rp.add(r)
	}
	for _, size := range []int{64, 4096} {
		n := stream
		if size > 64 {
			n = stream / 10
		}
		bare, err := median(cf.runs, func() (result, error) { return benchSPSC(d, size, n) })
		if err != nil {
			return fmt.Errorf("bare stream: %w", err)
		}
		rp.add(bare)
		for _, c := range []struct{ p, c, batch int }{{1, 1, 1}, {4, 1, 1}, {4, 4, 1}, {1, 1, 64}, {4, 1, 64}} {
			r, err := median(cf.runs, func() (result, error) { return benchRingThroughput(d, size, n, c.p, c.c, c.batch) })
			if err != nil {
				return fmt.Errorf("ring throughput: %w", err)
			}
			r.Ratio, r.RatioTo = r.Rate/bare.Rate, "bare stream"
			rp.add(r)
		}
	}
	return nil
}

// ---- bare cache-line ping-pong ----

func benchCacheLine(d *shm.Dir, n int) (result, error) {
	seg, err := d.CreateSegment("pingpong", shm.KindUser, 128, nil)
	if err != nil {
		return result{}, err
	}
	defer func() { seg.Close(); seg.Unlink() }()
	w, _ := seg.Word64(0)
	p, _, err := startReady("cacheline", envNS+"="+d.Path(), envN+"="+strconv.Itoa(n+n/10))
	if err != nil {
		return result{}, err
	}
	defer p.kill()
	samples := make([]time.Duration, 0, n)
	for i := range n + n/10 {
		v := uint64(2*i + 1)
		t0 := time.Now()
		w.Store(v)
		for w.Load() != v+1 {
		}
		if i >= n/10 { // the first tenth warms up
			samples = append(samples, time.Since(t0))
		}
	}
	r := result{Bench: "ring", Name: "bare cache-line ping-pong RTT", Size: 8}
	r.latency(samples)
	return r, p.wait()
}

func childCacheLine() error {
	d, err := childDir()
	if err != nil {
		return err
	}
	seg, err := d.OpenSegment("pingpong", shm.KindUser)
	if err != nil {
		return err
	}
	w, _ := seg.Word64(0)
	n := envInt(envN)
	fmt.Println("ready")
	for i := range n {
		v := uint64(2*i + 1)
		for spins := 0; w.Load() != v; spins++ {
			if spins&(1<<24-1) == 0 && os.Getppid() == 1 {
				return errors.New("parent gone")
			}
		}
		w.Store(v + 1)
	}
	return nil
}

// ---- bare futex ping-pong ----

func benchFutex(d *shm.Dir, n int) (result, error) {
	seg, err := d.CreateSegment("futex", shm.KindUser, 256, nil)
	if err != nil {
		return result{}, err
	}
	defer func() { seg.Close(); seg.Unlink() }()
	req, _ := seg.Word32(0)
	resp, _ := seg.Word32(128)
	p, _, err := startReady("futex", envNS+"="+d.Path(), envN+"="+strconv.Itoa(n+n/10))
	if err != nil {
		return result{}, err
	}
	defer p.kill()
	time.Sleep(10 * time.Millisecond)
	samples := make([]time.Duration, 0, n)
	for i := range n + n/10 {
		v := uint32(i + 1)
		t0 := time.Now()
		req.Store(v)
		req.Wake(1)
		for resp.Load() != v {
			resp.Wait(v-1, time.Second)
		}
		if i >= n/10 {
			samples = append(samples, time.Since(t0))
		}
	}
	r := result{Bench: "ring", Name: "bare futex wake/wait RTT", Size: 4}
	r.latency(samples)
	return r, p.wait()
}

func childFutex() error {
	d, err := childDir()
	if err != nil {
		return err
	}
	seg, err := d.OpenSegment("futex", shm.KindUser)
	if err != nil {
		return err
	}
	req, _ := seg.Word32(0)
	resp, _ := seg.Word32(128)
	n := envInt(envN)
	fmt.Println("ready")
	for i := range n {
		v := uint32(i + 1)
		for req.Load() != v {
			req.Wait(v-1, time.Second)
		}
		resp.Store(v)
		resp.Wake(1)
	}
	return nil
}

// ---- ring round trip ----

func benchRingRTT(d *shm.Dir, size int, spin bool, n int) (result, error) {
	cfg := &shm.RingConfig{Cells: 4096}
	req, err := shm.CreateRing(d, "req", cfg)
	if err != nil {
		return result{}, err
	}
	defer func() { req.Close(); d.Remove("req") }()
	resp, err := shm.CreateRing(d, "resp", cfg)
	if err != nil {
		return result{}, err
	}
	defer func() { resp.Close(); d.Remove("resp") }()
	spinFor := time.Duration(0)
	if spin {
		spinFor = time.Hour
	}
	req.SetSpin(spinFor)
	resp.SetSpin(spinFor)
	p, _, err := startReady("ring-echo", envNS+"="+d.Path(), envSpin+"="+strconv.FormatBool(spin))
	if err != nil {
		return result{}, err
	}
	defer p.kill()
	ctx := context.Background()
	msg := make([]byte, size)
	buf := make([]byte, 0, size)
	samples, err := timeLoop(n, func() error {
		if err := req.Push(ctx, msg); err != nil {
			return err
		}
		buf, err = resp.Pop(ctx, buf)
		return err
	})
	if err != nil {
		return result{}, err
	}
	req.Push(ctx, nil) // stop
	mode := "parked"
	if spin {
		mode = "spinning"
	}
	return latencyResult("ring", "ring RTT, "+mode, size, samples), p.wait()
}

func childRingEcho() error {
	d, err := childDir()
	if err != nil {
		return err
	}
	req, err := shm.OpenRing(d, "req")
	if err != nil {
		return err
	}
	resp, err := shm.OpenRing(d, "resp")
	if err != nil {
		return err
	}
	if os.Getenv(envSpin) == "true" {
		req.SetSpin(time.Hour)
		resp.SetSpin(time.Hour)
	} else {
		req.SetSpin(0)
		resp.SetSpin(0)
	}
	fmt.Println("ready")
	ctx := context.Background()
	var buf []byte
	for {
		if buf, err = req.Pop(ctx, buf); err != nil {
			return err
		}
		if len(buf) == 0 {
			return nil
		}
		if err := resp.Push(ctx, buf); err != nil {
			return err
		}
	}
}

// ---- ring throughput ----

func benchRingThroughput(d *shm.Dir, size, n, producers, consumers, batch int) (result, error) {
	ring, err := shm.CreateRing(d, "tp", nil)
	if err != nil {
		return result{}, err
	}
	defer func() { ring.Close(); d.Remove("tp") }()
	n -= n % producers
	p, err := startPeer("ring-produce", envNS+"="+d.Path(), envN+"="+strconv.Itoa(n),
		envSize+"="+strconv.Itoa(size), envProd+"="+strconv.Itoa(producers), envBatch+"="+strconv.Itoa(batch))
	if err != nil {
		return result{}, err
	}
	defer p.kill()
	if _, err := p.expect("ready"); err != nil {
		return result{}, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got atomic.Int64
	var wg sync.WaitGroup
	var popErr error
	var once sync.Once
	t0 := time.Now()
	p.send("go")
	for range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for got.Load() < int64(n) {
				k, err := ring.PopBatch(ctx, 256, func([]byte) {})
				if got.Add(int64(k)) >= int64(n) {
					cancel()
				}
				if err != nil && ctx.Err() == nil {
					once.Do(func() { popErr = err })
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	if popErr != nil {
		return result{}, popErr
	}
	name := fmt.Sprintf("ring throughput %d→%d", producers, consumers)
	if batch > 1 {
		name += fmt.Sprintf(", PushBatch(%d)", batch)
	}
	r := result{Bench: "ring", Name: name, Size: size, N: n}
	r.Rate = float64(n) / el.Seconds()
	return r, p.wait()
}

func childRingProduce() error {
	d, err := childDir()
	if err != nil {
		return err
	}
	ring, err := shm.OpenRing(d, "tp")
	if err != nil {
		return err
	}
	n, size, producers, batch := envInt(envN), envInt(envSize), envInt(envProd), max(envInt(envBatch), 1)
	fmt.Println("ready")
	readLine()
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs := make([][]byte, batch)
			for i := range msgs {
				msgs[i] = make([]byte, size)
			}
			for left := n / producers; left > 0; {
				k := min(batch, left)
				var err error
				if k == 1 {
					err = ring.Push(context.Background(), msgs[0])
				} else {
					_, err = ring.PushBatch(context.Background(), msgs[:k])
				}
				if err != nil {
					errs <- err
					return
				}
				left -= k
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// ---- bare SPSC stream ----

// The bare stream is the least a one-producer, one-consumer queue in shared
// memory can do per record: copy it into a fixed slot, publish the tail,
// copy it out, publish the head. No claims, no owners, no crash safety.

func benchSPSC(d *shm.Dir, size, n int) (result, error) {
	slot := (size + 8 + 63) &^ 63
	seg, err := d.CreateSegment("spsc", shm.KindUser, spscBody+spscCap*slot, nil)
	if err != nil {
		return result{}, err
	}
	defer func() { seg.Close(); seg.Unlink() }()
	head, _ := seg.Word64(0)
	tail, _ := seg.Word64(128)
	data := seg.Body()[spscBody:]
	p, _, err := startReady("spsc-produce", envNS+"="+d.Path(), envN+"="+strconv.Itoa(n), envSize+"="+strconv.Itoa(size))
	if err != nil {
		return result{}, err
	}
	defer p.kill()
	buf := make([]byte, size)
	t0 := time.Now()
	p.send("go")
	var h, t uint64
	for h < uint64(n) {
		for h == t {
			t = tail.Load()
		}
		for ; h < t; h++ {
			off := int(h%spscCap) * slot
			l := binary.LittleEndian.Uint64(data[off:])
			copy(buf, data[off+8:off+8+int(l)])
		}
		head.Store(h)
	}
	el := time.Since(t0)
	r := result{Bench: "ring", Name: "bare SPSC stream 1→1", Size: size, N: n}
	r.Rate = float64(n) / el.Seconds()
	return r, p.wait()
}

func childSPSCProduce() error {
	d, err := childDir()
	if err != nil {
		return err
	}
	seg, err := d.OpenSegment("spsc", shm.KindUser)
	if err != nil {
		return err
	}
	n, size := envInt(envN), envInt(envSize)
	slot := (size + 8 + 63) &^ 63
	head, _ := seg.Word64(0)
	tail, _ := seg.Word64(128)
	data := seg.Body()[spscBody:]
	msg := make([]byte, size)
	fmt.Println("ready")
	readLine()
	var h uint64
	for t := uint64(0); t < uint64(n); t++ {
		for t-h >= spscCap {
			h = head.Load()
		}
		off := int(t%spscCap) * slot
		binary.LittleEndian.PutUint64(data[off:], uint64(size))
		copy(data[off+8:], msg)
		tail.Store(t + 1)
	}
	return nil
}
