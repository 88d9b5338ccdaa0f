package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/shmactor/shmactor/topic"
)

// The topic benchmark: one publisher in this process, subscribers spread
// over four child processes; delivered msgs/s for 1, 4 and 16
// subscribers, sealed and plaintext, the time a Publish call takes, and
// the round trip of a publication answered by a publication; with the
// same fan-out inside one process as the reference.

func init() {
	subcommands["topic"] = runTopic
	childRoles["topic-sub"] = childTopicSub
}

const (
	envSubs  = "BENCH_SUBS"
	subProcs = 4
)

func runTopic(args []string) error {
	cf, err := parseFlags("topic", args, nil)
	if err != nil {
		return err
	}
	d, cleanup, err := benchDir()
	if err != nil {
		return err
	}
	defer cleanup()
	root := d.Path()
	rp := &reporter{json: cf.json}
	rp.header("shmactor topic benchmark: 1 publisher, subscribers over 4 processes, each figure measured in this run")
	n, rtt := 200_000, 20_000
	if cf.quick {
		n, rtt = 20_000, 2_000
	}
	inproc := map[int]result{}
	for _, subs := range []int{1, 4, 16} {
		r, err := median(cf.runs, func() (result, error) { return benchTopicLocal(root, subs, n) })
		if err != nil {
			return fmt.Errorf("in-process fan-out: %w", err)
		}
		inproc[subs] = r
		rp.add(r)
	}
	for _, plain := range []bool{false, true} {
		for _, subs := range []int{1, 4, 16} {
			calls := map[float64]result{} // the Publish call figures of each run, by its rate
			r, err := median(cf.runs, func() (result, error) {
				r, c, err := benchTopicFanOut(root, plain, subs, n)
				calls[r.Rate] = c
				return r, err
			})
			if err != nil {
				return fmt.Errorf("fan-out to %d: %w", subs, err)
			}
			call := calls[r.Rate]
			r.Ratio, r.RatioTo = r.Rate/inproc[subs].Rate, "in-process"
			rp.add(r)
			rp.add(call)
		}
	}
	for _, plain := range []bool{false, true} {
		r, err := benchTopicRTT(root, plain, rtt)
		if err != nil {
			return fmt.Errorf("round trip: %w", err)
		}
		rp.add(r)
	}
	return nil
}

// benchTopicLocal fans n publications out to subs function subscribers
// in this process.
func benchTopicLocal(root string, subs, n int) (result, error) {
	sys, err := joinBench(root, fmt.Sprintf("bench%d", nsSeq.Add(1)), false)
	if err != nil {
		return result{}, err
	}
	defer sys.Close()
	got := newArrivals(n * subs)
	for range subs {
		if _, err := topic.SubscribeFunc(sys, "bench.t", func(string, any) { got.add() }); err != nil {
			return result{}, err
		}
	}
	msg := blob(64)
	t0 := time.Now()
	for range n {
		if err := topic.Publish(sys, "bench.t", msg); err != nil {
			return result{}, err
		}
	}
	if err := got.wait(); err != nil {
		return result{}, err
	}
	return rateResult("topic", fmt.Sprintf("in-process fan-out 1→%d", subs), 64, n*subs, time.Since(t0)), nil
}

// startSubs starts the subscriber processes of a namespace: subs
// subscriptions to "bench.t" dealt over subProcs processes.
func startSubs(root, ns string, plain bool, subs, n int) ([]*peer, error) {
	var peers []*peer
	for i := range min(subs, subProcs) {
		k := subs / subProcs
		if i < subs%subProcs {
			k++
		}
		p, err := startPeer("topic-sub", envRoot+"="+root, envNS+"="+ns, envPlain+"="+strconv.FormatBool(plain),
			envN+"="+strconv.Itoa(n), envSubs+"="+strconv.Itoa(k))
		if err != nil {
			return peers, err
		}
		peers = append(peers, p)
		if _, err := p.expect("ready"); err != nil {
			return peers, err
		}
	}
	return peers, nil
}

// benchTopicFanOut publishes n publications to subs subscribers in other
// processes and times them until every subscriber has all of them; it
// also times each Publish call.
func benchTopicFanOut(root string, plain bool, subs, n int) (result, result, error) {
	ns := fmt.Sprintf("bench%d", nsSeq.Add(1))
	sys, err := joinBench(root, ns, plain)
	if err != nil {
		return result{}, result{}, err
	}
	defer sys.Close()
	peers, err := startSubs(root, ns, plain, subs, n)
	defer func() {
		for _, p := range peers {
			p.kill()
		}
	}()
	if err != nil {
		return result{}, result{}, err
	}
	msg := blob(64)
	calls := make([]time.Duration, 0, n)
	t0 := time.Now()
	for range n {
		c0 := time.Now()
		if err := topic.Publish(sys, "bench.t", msg); err != nil {
			return result{}, result{}, err
		}
		calls = append(calls, time.Since(c0))
	}
	for _, p := range peers {
		if err := expectOK(p, "done"); err != nil {
			return result{}, result{}, fmt.Errorf("subscriber: %w", err)
		}
	}
	el := time.Since(t0)
	if st, _ := topic.StatsOf(sys); st.Dropped+st.Undelivered > 0 {
		return result{}, result{}, fmt.Errorf("publisher stats %+v", st)
	}
	r := rateResult("topic", fmt.Sprintf("fan-out 1→%d, %d procs, %s", subs, min(subs, subProcs), mode(plain)), 64, n*subs, el)
	c := latencyResult("topic", fmt.Sprintf("  Publish call, 1→%d, %s", subs, mode(plain)), 64, calls)
	c.Rate = float64(n) / el.Seconds() // publications per second, end to end
	return r, c, nil
}

// benchTopicRTT times a publication on "bench.ping" answered, by a
// subscriber in another process, with a publication on "bench.pong".
func benchTopicRTT(root string, plain bool, n int) (result, error) {
	ns := fmt.Sprintf("bench%d", nsSeq.Add(1))
	sys, err := joinBench(root, ns, plain)
	if err != nil {
		return result{}, err
	}
	defer sys.Close()
	pong := make(chan struct{}, 1)
	if _, err := topic.SubscribeFunc(sys, "bench.pong", func(string, any) { pong <- struct{}{} }); err != nil {
		return result{}, err
	}
	peers, err := startSubs(root, ns, plain, 1, 0)
	defer func() {
		for _, p := range peers {
			p.kill()
		}
	}()
	if err != nil {
		return result{}, err
	}
	msg := blob(64)
	samples, err := timeLoop(n, func() error {
		if err := topic.Publish(sys, "bench.ping", msg); err != nil {
			return err
		}
		return awaitPong(pong)
	})
	if err != nil {
		return result{}, err
	}
	return latencyResult("topic", "publish→subscriber→publish back RTT, "+mode(plain), 64, samples), nil
}

// awaitPong waits for the answer of a round trip made of publications.
func awaitPong(pong <-chan struct{}) error {
	select {
	case <-pong:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("no answer in 10s")
	}
}

// childTopicSub subscribes BENCH_SUBS functions to "bench.t" and prints
// "done ok" when each has BENCH_N publications; it answers "bench.ping"
// with "bench.pong".
func childTopicSub() error {
	sys, err := joinBench(os.Getenv(envRoot), os.Getenv(envNS), os.Getenv(envPlain) == "true")
	if err != nil {
		return err
	}
	defer sys.Close()
	n, subs := int64(envInt(envN)), envInt(envSubs)
	var full atomic.Int64
	done := make(chan struct{})
	for range subs {
		var got atomic.Int64
		if _, err := topic.SubscribeFunc(sys, "bench.t", func(string, any) {
			if got.Add(1) == n && full.Add(1) == int64(subs) {
				close(done)
			}
		}); err != nil {
			return err
		}
	}
	if _, err := topic.SubscribeFunc(sys, "bench.ping", func(_ string, m any) {
		if err := topic.Publish(sys, "bench.pong", m); err != nil {
			fmt.Fprintln(os.Stderr, "pong:", err)
		}
	}); err != nil {
		return err
	}
	fmt.Println("ready")
	if n > 0 {
		<-done
		fmt.Println("done ok")
	}
	readLine()
	return nil
}
