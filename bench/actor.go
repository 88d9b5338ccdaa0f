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
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/shm"
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

// joinBench joins namespace ns under root, with the options of the
// environment (BENCH_SPIN_FOR) and extra.
func joinBench(root, ns string, plain bool, extra ...actor.Option) (*actor.System, error) {
	opts := []actor.Option{actor.WithRoot(root)}
	if d, err := time.ParseDuration(os.Getenv(envSpinFor)); err == nil {
		opts = append(opts, actor.WithSpin(d))
	}
	if plain {
		opts = append(opts, actor.WithPlaintext())
	}
	return actor.Join(ns, append(opts, extra...)...)
}

// inboxFor returns the options a node needs to receive size-byte messages
// in line: the default inbox takes records of up to 64 KiB, envelope
// included, so messages of up to 64 KiB get an inbox that takes twice
// their size. Larger ones travel out of line, through the default inbox.
func inboxFor(size int) []actor.Option {
	if size <= 32<<10 || size > 64<<10 {
		return nil
	}
	return []actor.Option{actor.WithInbox(shm.RingConfig{MaxRecord: 2 * size})}
}

// payloadLen returns the payload size of a benchmark message, or -1 for
// anything else.
func payloadLen(m any) int {
	switch m := m.(type) {
	case *Blob:
		return len(m.Data)
	case *wrapperspb.BytesValue:
		return len(m.Value)
	}
	return -1
}

// echoProps answers every benchmark message with itself.
func echoProps() *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		if payloadLen(ctx.Message()) >= 0 {
			ctx.Respond(ctx.Message())
		}
	})
}

// countProps counts benchmark messages in a.
func countProps(a *arrivals) *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		if payloadLen(ctx.Message()) >= 0 {
			a.add()
		}
	})
}

// requestLoop times n requests (after n/10 warm-up ones) of msg to pid,
// each answered with a message of the same size.
func requestLoop(root *proto.RootContext, pid *actor.PID, msg any, n int) ([]time.Duration, error) {
	size := payloadLen(msg)
	return timeLoop(n, func() error {
		res, err := root.RequestFuture(pid, msg, 10*time.Second).Result()
		if err != nil {
			return err
		}
		if payloadLen(res) != size {
			return fmt.Errorf("reply %T, want a %d-byte %T", res, size, msg)
		}
		return nil
	})
}

// blob returns a size-byte Blob.
func blob(size int) *Blob { return &Blob{Data: bytes.Repeat([]byte{'x'}, size)} }

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
	samples, err := requestLoop(sys.Root, pid, blob(size), n)
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
	got := newArrivals(n)
	pid := sys.Root.Spawn(countProps(got))
	msg := blob(size)
	t0 := time.Now()
	for range n {
		sys.Root.Send(pid, msg)
	}
	if err := got.wait(); err != nil {
		return result{}, err
	}
	return rateResult("actor", "protoactor Send 1→1, in-process", size, n, time.Since(t0)), nil
}

var nsSeq atomic.Int64

// startNode starts a child node in a new namespace under root and returns
// it with the namespace's name.
func startNode(root string, plain bool, env ...string) (*peer, string, error) {
	ns := fmt.Sprintf("bench%d", nsSeq.Add(1))
	p, _, err := startReady("actor-node", append([]string{envRoot + "=" + root, envNS + "=" + ns, envPlain + "=" + strconv.FormatBool(plain)}, env...)...)
	if err != nil {
		return nil, "", err
	}
	return p, ns, nil
}

func benchActorRTT(root string, plain bool, size, n int) (result, error) {
	p, ns, err := startNode(root, plain, envSize+"="+strconv.Itoa(size))
	if err != nil {
		return result{}, err
	}
	defer p.kill()
	sys, err := joinBench(root, ns, plain, inboxFor(size)...)
	if err != nil {
		return result{}, err
	}
	defer sys.Close()
	pid, err := sys.Lookup("echo")
	if err != nil {
		return result{}, err
	}
	samples, err := requestLoop(sys.Root, pid, blob(size), n)
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
	sys, err := joinBench(root, ns, plain, inboxFor(size)...)
	if err != nil {
		return result{}, err
	}
	defer sys.Close()
	got := newArrivals(n)
	if _, err := sys.SpawnNamed(countProps(got), "sink"); err != nil {
		return result{}, err
	}
	el, err := streamFrom(got, "actor-node", envRoot+"="+root, envNS+"="+ns, envPlain+"="+strconv.FormatBool(plain),
		envN+"="+strconv.Itoa(n), envSize+"="+strconv.Itoa(size), envSenders+"="+strconv.Itoa(senders))
	if err != nil {
		return result{}, err
	}
	if st := sys.Stats(); st.Rejected+st.Undecodable+st.DeadLettered > 0 {
		return result{}, fmt.Errorf("receiver stats %+v", st)
	}
	return rateResult("actor", fmt.Sprintf("shmactor Send %d→1, 2 processes, %s", senders, mode(plain)), size, n, el), nil
}

// childActorNode joins a namespace and serves "echo"; on "send" it sends
// BENCH_N Blobs from BENCH_SENDERS goroutines to "sink" and prints "sent".
func childActorNode() error {
	sys, err := joinBench(os.Getenv(envRoot), os.Getenv(envNS), os.Getenv(envPlain) == "true", inboxFor(envInt(envSize))...)
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
			msg := blob(size)
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
