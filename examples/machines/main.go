package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/natsbridge"
	"github.com/shmactor/shmactor/topic"
)

// The machines are this program again, told so by the environment.
const (
	envRole     = "MACHINES_ROLE" // "hasher" or "source"
	envRoot     = "MACHINES_ROOT"
	envNATS     = "MACHINES_NATS"
	envIdentity = "MACHINES_IDENTITY"
	envTrust    = "MACHINES_TRUST"
	envPeer     = "MACHINES_PEER" // the hasher machine's node address
	envN        = "MACHINES_N"
	envPlain    = "MACHINES_PLAINTEXT"
)

// Job is work the source machine sends; Hashed is the answer; Done is
// published on "results.<id>" for whoever follows the results.
type (
	Job struct {
		ID   int
		Text string
	}
	Hashed struct {
		ID     int
		Digest string
	}
	Done struct {
		ID      int
		Machine string
	}
)

func init() {
	for _, err := range []error{actor.RegisterMessage[*Job](), actor.RegisterMessage[*Hashed](), actor.RegisterMessage[*Done]()} {
		if err != nil {
			panic(err)
		}
	}
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "machines:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	switch os.Getenv(envRole) {
	case "hasher":
		return hasher(out)
	case "source":
		return source(out)
	}
	fs := flag.NewFlagSet("machines", flag.ContinueOnError)
	n := fs.Int("n", 20000, "jobs the source machine sends")
	plain := fs.Bool("plaintext", false, "plaintext gRPC between the machines (loopback only) instead of mutual TLS")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 {
		return fmt.Errorf("-n %d: want at least 1", *n)
	}
	return parent(*n, *plain, out)
}

// parent plays the network: a NATS server, and two "machines" — two
// processes, each the only node of a namespace of its own under a root
// of its own — that reach each other over 127.0.0.1 only.
func parent(n int, plain bool, out io.Writer) error {
	dir, err := os.MkdirTemp("", "shmactor-machines-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		return err
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		return errors.New("the NATS server did not start")
	}
	// One identity per machine, and a trust store that lists both: the
	// machines' gRPC is mutual TLS from these.
	var lines []string
	for _, m := range []string{"east", "west"} {
		line, err := actor.GenerateIdentity(filepath.Join(dir, m+".key"), m)
		if err != nil {
			return err
		}
		lines = append(lines, line)
	}
	trust := filepath.Join(dir, "trust")
	if err := os.WriteFile(trust, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	mode := "mutual TLS from the machines' identities"
	if plain {
		mode = "plaintext gRPC on loopback"
	}
	fmt.Fprintf(out, "machines: west hashes, east sends %d jobs to it by name (LookupAt, protoactor-go's remote, %s); results come back as requests' answers and as publications through NATS (%s)\n", n, mode, ns.ClientURL())
	common := []string{envNATS + "=" + ns.ClientURL(), envTrust + "=" + trust, envN + "=" + strconv.Itoa(n), envPlain + "=" + strconv.FormatBool(plain)}
	west, err := start("hasher", append(common, envRoot+"="+filepath.Join(dir, "west"), envIdentity+"="+filepath.Join(dir, "west.key")))
	if err != nil {
		return err
	}
	defer west.stop()
	addr, err := west.expect("ready")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "west: node %s\n", addr)
	east, err := start("source", append(common, envRoot+"="+filepath.Join(dir, "east"), envIdentity+"="+filepath.Join(dir, "east.key"), envPeer+"="+addr))
	if err != nil {
		return err
	}
	defer east.stop()
	for {
		line, err := east.next()
		if err != nil {
			return err
		}
		fmt.Fprintln(out, "east: "+line)
		if strings.HasPrefix(line, "result ") {
			if line != "result every job answered and published once" {
				return errors.New(strings.TrimPrefix(line, "result "))
			}
			return nil
		}
	}
}

// join joins the machine's namespace with a remote on a free loopback
// port, and bridges "results.>" to NATS. close leaves both.
func join() (sys *actor.System, b *natsbridge.Bridge, close func(), err error) {
	ro := []actor.RemoteOption{}
	opts := []actor.Option{actor.WithRoot(os.Getenv(envRoot)), actor.WithIdentity(os.Getenv(envIdentity)), actor.WithTrustStore(os.Getenv(envTrust))}
	if os.Getenv(envPlain) == "true" {
		ro = append(ro, actor.RemoteInsecure())
	}
	if sys, err = actor.Join("shop", append(opts, actor.WithRemote("127.0.0.1:0", ro...))...); err != nil {
		return nil, nil, nil, err
	}
	if b, err = natsbridge.New(sys, os.Getenv(envNATS)); err != nil {
		sys.Close()
		return nil, nil, nil, err
	}
	if err = b.Subject("results.>"); err != nil {
		b.Close()
		sys.Close()
		return nil, nil, nil, err
	}
	return sys, b, func() { b.Close(); sys.Close() }, nil
}

// hasher is machine west: an actor named "hasher" answers each Job with
// its digest and publishes Done on "results.<id>", which the bridge
// carries to NATS.
func hasher(out io.Writer) error {
	sys, _, leave, err := join()
	if err != nil {
		return err
	}
	defer leave()
	if _, err := sys.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		j, ok := ctx.Message().(*Job)
		if !ok {
			return
		}
		sum := sha256.Sum256([]byte(j.Text))
		ctx.Respond(&Hashed{ID: j.ID, Digest: hex.EncodeToString(sum[:8])})
		if err := topic.Publish(sys, "results."+strconv.Itoa(j.ID%16), &Done{ID: j.ID, Machine: "west"}); err != nil {
			fmt.Fprintln(os.Stderr, "publish:", err)
		}
	}), "hasher"); err != nil {
		return err
	}
	fmt.Fprintln(out, "ready", sys.NodeAddress(sys.NodeID()))
	io.Copy(io.Discard, os.Stdin) // until the parent closes it
	return nil
}

// source is machine east: it looks "hasher" up on west by its address,
// sends it every job as a request, 64 in flight, checks each answer, and
// counts the Done publications that reach it through NATS.
func source(out io.Writer) error {
	sys, b, leave, err := join()
	if err != nil {
		return err
	}
	defer leave()
	n := 0
	fmt.Sscan(os.Getenv(envN), &n)
	var mu sync.Mutex
	seen := make([]int, n)
	published := make(chan struct{}, 1)
	count := 0
	if _, err := topic.SubscribeFunc(sys, "results.>", func(_ string, m any) {
		d, ok := m.(*Done)
		if !ok || d.ID < 0 || d.ID >= n {
			return
		}
		mu.Lock()
		seen[d.ID]++
		count++
		if count == n {
			published <- struct{}{}
		}
		mu.Unlock()
	}); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hasher, err := sys.LookupAt(ctx, os.Getenv(envPeer), "hasher")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "looked up \"hasher\" at %s: %s/%s\n", os.Getenv(envPeer), hasher.Address, hasher.Id)
	start := time.Now()
	var wg sync.WaitGroup
	var bad error
	var badOnce sync.Once
	jobs := make(chan int)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range jobs {
				text := fmt.Sprintf("job %d", id)
				v, err := sys.Request(hasher, &Job{ID: id, Text: text}, 10*time.Second)
				sum := sha256.Sum256([]byte(text))
				if h, ok := v.(*Hashed); err != nil || !ok || h.ID != id || h.Digest != hex.EncodeToString(sum[:8]) {
					badOnce.Do(func() { bad = fmt.Errorf("job %d answered %v, %v", id, v, err) })
				}
			}
		}()
	}
	for id := range n {
		jobs <- id
	}
	close(jobs)
	wg.Wait()
	answered := time.Since(start)
	if bad != nil {
		fmt.Fprintln(out, "result", bad)
		return nil
	}
	fmt.Fprintf(out, "%d requests answered across machines in %v (%.0f requests/s)\n", n, answered.Round(time.Millisecond), float64(n)/answered.Seconds())
	select {
	case <-published:
	case <-time.After(30 * time.Second):
	}
	time.Sleep(200 * time.Millisecond) // a duplicate would show by now
	mu.Lock()
	defer mu.Unlock()
	st := b.Stats()
	fmt.Fprintf(out, "%d publications from west reached east through NATS (bridge: %d imported, %d refused)\n", count, st.Imported, st.Refused)
	for id, k := range seen {
		if k != 1 {
			fmt.Fprintf(out, "result job %d published %d times at east\n", id, k)
			return nil
		}
	}
	fmt.Fprintln(out, "result every job answered and published once")
	return nil
}

// child is a machine's process.
type child struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines *bufio.Scanner
	done  chan struct{}
}

func start(role string, env []string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := &child{cmd: exec.Command(exe), done: make(chan struct{})}
	c.cmd.Env = append(append(os.Environ(), envRole+"="+role), env...)
	c.cmd.Stderr = os.Stderr
	if c.in, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	o, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.lines = bufio.NewScanner(o)
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	return c, nil
}

// next returns the child's next line of output.
func (c *child) next() (string, error) {
	if c.lines.Scan() {
		return c.lines.Text(), nil
	}
	return "", fmt.Errorf("a machine exited: %v", c.cmd.Wait())
}

// expect returns the rest of the first line starting with prefix.
func (c *child) expect(prefix string) (string, error) {
	for {
		l, err := c.next()
		if err != nil {
			return "", err
		}
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			return strings.TrimSpace(rest), nil
		}
	}
}

// stop closes the child's stdin and waits for it, killing it after 5 s.
func (c *child) stop() {
	c.in.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}
