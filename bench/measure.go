package main

import (
	"fmt"
	"sync/atomic"
	"time"
)

// How each benchmark measures: round trips one at a time, timed each
// (timeLoop); one-way streams timed from the go-ahead to the last arrival
// counted at the receiver (arrivals, rateResult).

// arrivalTimeout bounds how long a receiver waits for a stream.
const arrivalTimeout = 2 * time.Minute

// timeLoop runs op n+n/10 times and returns how long each of the last n
// calls took: the first tenth warms up.
func timeLoop(n int, op func() error) ([]time.Duration, error) {
	samples := make([]time.Duration, 0, n)
	for i := range n + n/10 {
		t0 := time.Now()
		if err := op(); err != nil {
			return nil, fmt.Errorf("round trip %d: %w", i, err)
		}
		if i >= n/10 {
			samples = append(samples, time.Since(t0))
		}
	}
	return samples, nil
}

// arrivals counts the messages a receiver has handled.
type arrivals struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func newArrivals(want int) *arrivals {
	return &arrivals{want: int64(want), done: make(chan struct{})}
}

// add counts one message; the want-th closes done.
func (a *arrivals) add() {
	if a.n.Add(1) == a.want {
		close(a.done)
	}
}

// wait waits for the want-th message, at most arrivalTimeout.
func (a *arrivals) wait() error {
	select {
	case <-a.done:
		return nil
	case <-time.After(arrivalTimeout):
		return fmt.Errorf("%d of %d messages arrived in %v", a.n.Load(), a.want, arrivalTimeout)
	}
}

// expectOK reads p's output up to the line starting with word and fails
// unless the rest of it is "ok".
func expectOK(p *peer, word string) error {
	line, err := p.expect(word)
	if err != nil {
		return err
	}
	if line != "ok" {
		return fmt.Errorf("%s: %s", word, line)
	}
	return nil
}

// timeStream gives p the go-ahead to send ("send") and times it until got
// has every message; p must then report "sent ok".
func timeStream(p *peer, got *arrivals) (time.Duration, error) {
	t0 := time.Now()
	if err := p.send("send"); err != nil {
		return 0, err
	}
	if err := got.wait(); err != nil {
		return 0, fmt.Errorf("%w; sender: %s", err, p.err.String())
	}
	el := time.Since(t0)
	return el, expectOK(p, "sent")
}

// streamFrom starts a peer in role with env, waits for its "ready",
// and times its stream into got (timeStream) until it has sent every
// message and exited.
func streamFrom(got *arrivals, role string, env ...string) (time.Duration, error) {
	p, err := startPeer(role, env...)
	if err != nil {
		return 0, err
	}
	defer p.kill()
	if _, err := p.expect("ready"); err != nil {
		return 0, err
	}
	el, err := timeStream(p, got)
	if err != nil {
		return 0, err
	}
	return el, p.wait()
}

// rateResult is a throughput figure: n messages of size bytes in el.
func rateResult(bench, name string, size, n int, el time.Duration) result {
	return result{Bench: bench, Name: name, Size: size, N: n, Rate: float64(n) / el.Seconds()}
}

// latencyResult is a latency figure from round-trip samples.
func latencyResult(bench, name string, size int, samples []time.Duration) result {
	r := result{Bench: bench, Name: name, Size: size}
	r.latency(samples)
	return r
}
