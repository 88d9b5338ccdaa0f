package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/actor"
)

// The actor benchmark: request/reply round trips and one-way sends
// between actors in two processes, sealed and plaintext, against
// protoactor's in-process figures and the ring's bare round trip, all
// measured in this run.

func init() {
	subcommands["actor"] = runActor
	childRoles["actor-node"] = childActorNode
}

const (
	envPlain   = "BENCH_PLAINTEXT"
	envSenders = "BENCH_SENDERS"
	envSpinFor = "BENCH_SPIN_FOR"
)

// Blob is the benchmark's message: Data of the measured size.
type Blob struct{ Data []byte }

func init() {
	if err := actor.RegisterMessageName[*Blob]("bench.Blob"); err != nil {
		panic(err)
	}
}

func runActor(args []string) error {
	var spin time.Duration
	cf, err := parseFlags("actor", args, func(fs *flag.FlagSet) {
		fs.DurationVar(&spin, "spin", -1, "how long pumps spin before parking (default: the library's)")
	})
	if err != nil {
		return err
	}
	if spin >= 0 {
		os.Setenv(envSpinFor, spin.String()) // children inherit it
	}
	d, cleanup, err := benchDir()
	if err != nil {
		return err
	}
	defer cleanup()
	rp := &reporter{json: cf.json}
	rp.header("shmactor actor benchmark: two processes, each figure measured in this run")
	rtt, stream := 50_000, 1_000_000
	if cf.quick {
		rtt, stream = 5_000, 100_000
	}

	var ringRTT result
	for _, spin := range []bool{true, false} {
		r, err := benchRingRTT(d, 64, spin, rtt)
		if err != nil {
			return fmt.Errorf("ring round trip: %w", err)
		}
		r.Bench = "actor"
		rp.add(r)
		if !spin {
			ringRTT = r
		}
	}
	local := map[int]result{}
	for _, size := range []int{64, 4096} {
		r, err := benchProtoRTT(size, rtt)
		if err != nil {
			return fmt.Errorf("protoactor round trip: %w", err)
		}
		local[size] = r
		rp.add(r)
	}
	for _, plain := range []bool{false, true} {
		for _, size := range []int{64, 4096} {
			r, err := benchActorRTT(d.Path(), plain, size, rtt)
			if err != nil {
				return fmt.Errorf("actor round trip: %w", err)
			}
			r.Ratio, r.RatioTo = r.P50/local[size].P50, "protoactor in-process p50"
			rp.add(r)
			if size == 64 {
				rp.ratio(fmt.Sprintf("%s 64 B RTT p50 / parked ring RTT p50", mode(plain)), r.P50/ringRTT.P50)
			}
		}
	}
	localTP, err := median(cf.runs, func() (result, error) { return benchProtoSend(64, stream) })
	if err != nil {
		return fmt.Errorf("protoactor send: %w", err)
	}
	rp.add(localTP)
	for _, plain := range []bool{false, true} {
		for _, senders := range []int{1, 4} {
			r, err := median(cf.runs, func() (result, error) { return benchActorSend(d.Path(), plain, 64, stream, senders) })
			if err != nil {
				return fmt.Errorf("actor send: %w", err)
			}
			r.Ratio, r.RatioTo = r.Rate/localTP.Rate, "protoactor in-process"
			rp.add(r)
		}
	}
	return nil
}

func mode(plain bool) string {
	if plain {
		return "plaintext"
	}
	return "sealed"
}

// joinBench joins namespace ns under root.
func joinBench(root, ns string, plain bool) (*actor.System, error) {
	opts := []actor.Option{actor.WithRoot(root)}
	if d, err := time.ParseDuration(os.Getenv(envSpinFor)); err == nil {
		opts = append(opts, actor.WithSpin(d))
	}
	if plain {
		opts = append(opts, actor.WithPlaintext())
	}
	return actor.Join(ns, opts...)
}

// echoProps answers every Blob with itself.
func echoProps() *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		if b, ok := ctx.Message().(*Blob); ok {
			ctx.Respond(b)
		}
	})
}

// countProps counts Blobs and closes done at want.
func countProps(n *atomic.Int64, want int64, done chan struct{}) *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*Blob); ok {
			if n.Add(1) == want {
				close(done)
			}
		}
	})
}

// requestLoop times n requests (after n/10 warm-up ones) of a size-byte
// Blob to pid.
func requestLoop(root *proto.RootContext, pid *actor.PID, size, n int) ([]time.Duration, error) {
	msg := &Blob{Data: bytes.Repeat([]byte{'x'}, size)}
	samples := make([]time.Duration, 0, n)
	for i := range n + n/10 {
		t0 := time.Now()
		res, err := root.RequestFuture(pid, msg, 10*time.Second).Result()
		el := time.Since(t0)
		if err != nil {
			return nil, err
		}
		if b, ok := res.(*Blob); !ok || len(b.Data) != size {
			return nil, fmt.Errorf("reply %T, want a %d-byte Blob", res, size)
		}
		if i >= n/10 {
			samples = append(samples, el)
		}
	}
	return samples, nil
}

// quietSystem is a plain protoactor system that does not log.
func quietSystem() *proto.ActorSystem {
	return proto.NewActorSystemWithConfig(proto.Configure(proto.WithLoggerFactory(func(*proto.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	})))
}

func benchProtoRTT(size, n int) (result, error) {
	sys := quietSystem()
	defer sys.Shutdown()
	pid := sys.Root.Spawn(echoProps())
	samples, err := requestLoop(sys.Root, pid, size, n)
	if err != nil {
		return result{}, err
	}
	r := result{Bench: "actor", Name: "protoactor RequestFuture, in-process", Size: size}
	r.latency(samples)
	return r, nil
}

func benchProtoSend(size, n int) (result, error) {
	sys := quietSystem()
	defer sys.Shutdown()
	var got atomic.Int64
	done := make(chan struct{})
	pid := sys.Root.Spawn(countProps(&got, int64(n), done))
	msg := &Blob{Data: make([]byte, size)}
	t0 := time.Now()
	for range n {
		sys.Root.Send(pid, msg)
	}
	<-done
	r := result{Bench: "actor", Name: "protoactor Send 1→1, in-process", Size: size, N: n}
	r.Rate = float64(n) / time.Since(t0).Seconds()
	return r, nil
}

var nsSeq atomic.Int64

// startNode starts a child node in a new namespace under root and returns
// it with the namespace's name.
func startNode(root string, plain bool, env ...string) (*peer, string, error) {
	ns := fmt.Sprintf("bench%d", nsSeq.Add(1))
	p, err := startPeer("actor-node", append([]string{envRoot + "=" + root, envNS + "=" + ns, envPlain + "=" + strconv.FormatBool(plain)}, env...)...)
	if err != nil {
		return nil, "", err
	}
	if _, err := p.expect("ready"); err != nil {
		p.kill()
		return nil, "", err
	}
	return p, ns, nil
}

func benchActorRTT(root string, plain bool, size, n int) (result, error) {
	p, ns, err := startNode(root, plain)
	if err != nil {
		return result{}, err
	}
	defer p.kill()
	sys, err := joinBench(root, ns, plain)
	if err != nil {
		return result{}, err
	}
	defer sys.Close()
	pid, err := sys.Lookup("echo")
	if err != nil {
		return result{}, err
	}
	samples, err := requestLoop(sys.Root, pid, size, n)
	if err != nil {
		return result{}, err
	}
	r := result{Bench: "actor", Name: "shmactor RequestFuture, 2 processes, " + mode(plain), Size: size}
	r.latency(samples)
	return r, p.wait()
}

// benchActorSend times n one-way Sends of size-byte Blobs from senders
// goroutines of a child process to one actor of this process: from the
// go-ahead to the last message handled.
func benchActorSend(root string, plain bool, size, n, senders int) (result, error) {
	n -= n % senders
	// This process joins first and spawns the sink; the child joins the
	// namespace it is given.
	ns := fmt.Sprintf("bench%d", nsSeq.Add(1))
	sys, err := joinBench(root, ns, plain)
	if err != nil {
		return result{}, err
	}
	defer sys.Close()
	var got atomic.Int64
	done := make(chan struct{})
	if _, err := sys.SpawnNamed(countProps(&got, int64(n), done), "sink"); err != nil {
		return result{}, err
	}
	p, err := startPeer("actor-node", envRoot+"="+root, envNS+"="+ns, envPlain+"="+strconv.FormatBool(plain),
		envN+"="+strconv.Itoa(n), envSize+"="+strconv.Itoa(size), envSenders+"="+strconv.Itoa(senders))
	if err != nil {
		return result{}, err
	}
	defer p.kill()
	if _, err := p.expect("ready"); err != nil {
		return result{}, err
	}
	t0 := time.Now()
	p.send("send")
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		return result{}, fmt.Errorf("%d of %d messages arrived; sender stats: %s", got.Load(), n, p.err.String())
	}
	el := time.Since(t0)
	if line, err := p.expect("sent"); err != nil || line != "ok" {
		return result{}, fmt.Errorf("sender: %q %v", line, err)
	}
	if st := sys.Stats(); st.Rejected+st.Undecodable+st.DeadLettered > 0 {
		return result{}, fmt.Errorf("receiver stats %+v", st)
	}
	r := result{Bench: "actor", Name: fmt.Sprintf("shmactor Send %d→1, 2 processes, %s", senders, mode(plain)), Size: size, N: n}
	r.Rate = float64(n) / el.Seconds()
	return r, p.wait()
}

// childActorNode joins a namespace and serves "echo"; on "send" it sends
// BENCH_N Blobs from BENCH_SENDERS goroutines to "sink" and prints "sent".
func childActorNode() error {
	sys, err := joinBench(os.Getenv(envRoot), os.Getenv(envNS), os.Getenv(envPlain) == "true")
	if err != nil {
		return err
	}
	defer sys.Close()
	if _, err := sys.SpawnNamed(echoProps(), "echo"); err != nil {
		return err
	}
	fmt.Println("ready")
	for {
		cmd := readLine()
		switch cmd {
		case "":
			return nil
		case "send":
			fmt.Println("sent", sendAll(sys))
		default:
			return fmt.Errorf("unknown command %q", cmd)
		}
	}
}

func sendAll(sys *actor.System) string {
	n, size, senders := envInt(envN), envInt(envSize), max(envInt(envSenders), 1)
	pid, err := sys.Lookup("sink")
	if err != nil {
		return err.Error()
	}
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := &Blob{Data: make([]byte, size)}
			for range n / senders {
				sys.Root.Send(pid, msg)
			}
		}()
	}
	wg.Wait()
	st := sys.Stats()
	if bad := st.Full + st.Dropped + st.Undeliverable; bad > 0 {
		return strings.ReplaceAll(fmt.Sprintf("%d sends failed: %+v", bad, st), "\n", " ")
	}
	return "ok"
}
