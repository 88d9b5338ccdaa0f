package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// The NATS peer of the comparison: nats-server embedded in a child
// process, listening on a random loopback port, and nats.go clients in
// both processes, each over its own TCP connection to that server.

func init() {
	childRoles["nats-node"] = childNATSNode
}

const (
	envNATSURL = "BENCH_NATS_URL"
	envFan     = "BENCH_FAN"
)

// startNATSServer starts an embedded server on 127.0.0.1 with the
// defaults, except that it does not log, and that a subscriber may fall
// 1 GiB and 30 s behind before it is cut as a slow consumer: the
// one-way rows measure a fire hose, which NATS's defaults (64 MiB, 10 s)
// could cut before the last message.
func startNATSServer() (*server.Server, error) {
	s, err := server.NewServer(&server.Options{
		Host:          "127.0.0.1",
		Port:          server.RANDOM_PORT,
		NoLog:         true,
		NoSigs:        true,
		MaxPending:    1 << 30,
		WriteDeadline: 30 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("nats-server not ready in 10s")
	}
	return s, nil
}

// natsErrors keeps the first asynchronous error of a connection (a slow
// consumer, a dropped connection), to say why a stream fell short.
type natsErrors struct {
	mu    sync.Mutex
	first error
}

func (e *natsErrors) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.first == nil {
		e.first = err
	}
}

func (e *natsErrors) err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.first
}

func natsConnect(url string, errs *natsErrors) (*nats.Conn, error) {
	return nats.Connect(url, nats.Name("shmactor-bench"), nats.ErrorHandler(errs.handler))
}

// countSub subscribes a counter of size-byte messages that never drops.
func countSub(nc *nats.Conn, subject string, size int, got *arrivals) error {
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		if len(m.Data) == size {
			got.add()
		}
	})
	if err != nil {
		return err
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return err
	}
	return nc.Flush()
}

// startNATSNode starts a child that serves NATS when url is empty and
// otherwise connects to url; it returns the URL the child uses.
func startNATSNode(url string, env ...string) (*peer, string, error) {
	return startReady("nats-node", append([]string{envNATSURL + "=" + url}, env...)...)
}

// dialNATSNode starts a child that serves NATS and connects to it.
func dialNATSNode(env ...string) (*peer, *nats.Conn, *natsErrors, error) {
	p, url, err := startNATSNode("", env...)
	if err != nil {
		return nil, nil, nil, err
	}
	errs := new(natsErrors)
	nc, err := natsConnect(url, errs)
	if err != nil {
		p.kill()
		return nil, nil, nil, err
	}
	return p, nc, errs, nil
}

// benchNATSRTT times n nc.Request calls answered by a subscriber in the
// child that responds with the payload.
func benchNATSRTT(size, n int) (result, error) {
	p, nc, _, err := dialNATSNode()
	if err != nil {
		return result{}, err
	}
	defer p.kill()
	defer nc.Close()
	msg := bytes.Repeat([]byte{'x'}, size)
	samples, err := timeLoop(n, func() error {
		res, err := nc.Request("bench.echo", msg, 10*time.Second)
		if err != nil {
			return err
		}
		if len(res.Data) != size {
			return fmt.Errorf("reply of %d bytes, want %d", len(res.Data), size)
		}
		return nil
	})
	if err != nil {
		return result{}, err
	}
	return latencyResult("compare", "", size, samples), nil
}

// benchNATSPubRTT times a publication on "bench.ping" answered, by a
// subscriber in the child, with a publication on "bench.pong": the
// topic round trip.
func benchNATSPubRTT(size, n int) (result, error) {
	p, nc, _, err := dialNATSNode()
	if err != nil {
		return result{}, err
	}
	defer p.kill()
	defer nc.Close()
	pong := make(chan struct{}, 1)
	if _, err := nc.Subscribe("bench.pong", func(*nats.Msg) { pong <- struct{}{} }); err != nil {
		return result{}, err
	}
	if err := nc.Flush(); err != nil {
		return result{}, err
	}
	msg := make([]byte, size)
	samples, err := timeLoop(n, func() error {
		if err := nc.Publish("bench.ping", msg); err != nil {
			return err
		}
		return awaitPong(pong)
	})
	if err != nil {
		return result{}, err
	}
	return latencyResult("compare", "", size, samples), nil
}

// benchNATSStream times n size-byte publications from the child's client
// to a counting subscriber here, from the go-ahead to the last one.
func benchNATSStream(size, n int) (result, error) {
	p, nc, errs, err := dialNATSNode(envN+"="+strconv.Itoa(n), envSize+"="+strconv.Itoa(size))
	if err != nil {
		return result{}, err
	}
	defer p.kill()
	defer nc.Close()
	got := newArrivals(n)
	if err := countSub(nc, "bench.sink", size, got); err != nil {
		return result{}, err
	}
	el, err := timeStream(p, got)
	if err != nil {
		return result{}, fmt.Errorf("%w (receiving client: %v)", err, errs.err())
	}
	return rateResult("compare", "", size, n, el), p.wait()
}

// benchNATSFanOut publishes n size-byte messages from here to one
// subscriber in each of subProcs child processes (the first of which
// runs the server) and times them until every subscriber has all.
func benchNATSFanOut(size, n int) (result, error) {
	env := []string{envFan + "=" + strconv.Itoa(n), envSize + "=" + strconv.Itoa(size)}
	first, url, err := startNATSNode("", env...)
	if err != nil {
		return result{}, err
	}
	peers := []*peer{first}
	defer func() {
		for _, p := range peers {
			p.kill()
		}
	}()
	for range subProcs - 1 {
		p, _, err := startNATSNode(url, env...)
		if err != nil {
			return result{}, err
		}
		peers = append(peers, p)
	}
	var errs natsErrors
	nc, err := natsConnect(url, &errs)
	if err != nil {
		return result{}, err
	}
	defer nc.Close()
	msg := make([]byte, size)
	t0 := time.Now()
	for range n {
		if err := nc.Publish("bench.fan", msg); err != nil {
			return result{}, err
		}
	}
	if err := nc.FlushTimeout(time.Minute); err != nil {
		return result{}, err
	}
	for _, p := range peers {
		if err := expectOK(p, "done"); err != nil {
			return result{}, fmt.Errorf("subscriber: %w (publishing client: %v)", err, errs.err())
		}
	}
	return rateResult("compare", "", size, n*subProcs, time.Since(t0)), nil
}

// childNATSNode runs the server when BENCH_NATS_URL is empty, connects to
// it, answers "bench.echo" requests and "bench.ping" publications, counts
// BENCH_FAN messages of BENCH_SIZE bytes on "bench.fan" (printing "done"),
// and on "send" publishes BENCH_N of them on "bench.sink" (printing
// "sent").
func childNATSNode() error {
	url := os.Getenv(envNATSURL)
	if url == "" {
		s, err := startNATSServer()
		if err != nil {
			return err
		}
		defer s.Shutdown()
		url = s.ClientURL()
	}
	var errs natsErrors
	nc, err := natsConnect(url, &errs)
	if err != nil {
		return err
	}
	defer nc.Close()
	if _, err := nc.Subscribe("bench.echo", func(m *nats.Msg) { m.Respond(m.Data) }); err != nil {
		return err
	}
	if _, err := nc.Subscribe("bench.ping", func(m *nats.Msg) { nc.Publish("bench.pong", m.Data) }); err != nil {
		return err
	}
	n, size, fanN := envInt(envN), envInt(envSize), envInt(envFan)
	if fanN > 0 {
		fan := newArrivals(fanN)
		if err := countSub(nc, "bench.fan", size, fan); err != nil {
			return err
		}
		go func() {
			if err := fan.wait(); err != nil {
				fmt.Println("done", err, errs.err())
				return
			}
			fmt.Println("done ok")
		}()
	}
	if err := nc.Flush(); err != nil {
		return err
	}
	fmt.Println("ready", url)
	for {
		switch cmd := readLine(); cmd {
		case "":
			return nil
		case "send":
			fmt.Println("sent", natsSend(nc, n, size))
		default:
			return fmt.Errorf("unknown command %q", cmd)
		}
	}
}

func natsSend(nc *nats.Conn, n, size int) string {
	msg := make([]byte, size)
	for range n {
		if err := nc.Publish("bench.sink", msg); err != nil {
			return err.Error()
		}
	}
	if err := nc.FlushTimeout(time.Minute); err != nil {
		return err.Error()
	}
	return "ok"
}
