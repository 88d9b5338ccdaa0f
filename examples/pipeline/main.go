package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/topic"
)

func main() {
	if ok, code := runRole(); ok {
		os.Exit(code)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	n, workers, size int
	plaintext, chaos bool
	every            int
	in               string   // the input directory (real input)
	synthetic        bool     // items made up of -n and -size instead
	files            []string // the input files, relative to in
	bytes            int64    // their total size
}

// run is the parent: it runs the pipeline and prints the summary. It
// returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	var c config
	fs := flag.NewFlagSet("pipeline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.n, "n", 500000, "messages to send through the pipeline")
	fs.IntVar(&c.workers, "workers", 3, "worker processes")
	fs.IntVar(&c.size, "size", 256, "payload size in bytes")
	fs.BoolVar(&c.plaintext, "plaintext", false, "do not seal messages (trusted, fastest)")
	fs.BoolVar(&c.chaos, "chaos", false, "kill -9 a worker mid-run")
	fs.IntVar(&c.every, "progress", 0, "print progress every this many messages (0: about ten lines a run)")
	fs.StringVar(&c.in, "in", "", "process the files under this directory (default: the Go toolchain's source tree, `go env GOROOT`/src)")
	fs.BoolVar(&c.synthetic, "synthetic", false, "send made-up items (-n of -size bytes) instead of files (also implied by -n or -size)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "n" || f.Name == "size" {
			c.synthetic = true
		}
	})
	if c.synthetic && c.in != "" {
		fmt.Fprintf(stderr, "pipeline: -in and -synthetic (or -n, -size) exclude each other\n")
		return 2
	}
	if !c.synthetic {
		if err := c.listFiles(); err != nil {
			fmt.Fprintf(stderr, "pipeline: %v\n", err)
			return 2
		}
		c.n, c.size = len(c.files), directMax
	}
	switch {
	case c.n < 1:
		fmt.Fprintf(stderr, "pipeline: -n %d: want at least 1 message\n", c.n)
		return 2
	case c.workers < 1 || c.workers > 64:
		fmt.Fprintf(stderr, "pipeline: -workers %d: want 1 to 64\n", c.workers)
		return 2
	case c.size < 8 || c.size > 256<<10:
		fmt.Fprintf(stderr, "pipeline: -size %d: want 8 B to 256 KiB\n", c.size)
		return 2
	case c.chaos && c.workers < 2:
		fmt.Fprintf(stderr, "pipeline: -chaos needs at least 2 workers (one is killed)\n")
		return 2
	}
	if c.every <= 0 {
		c.every = max(c.n/10, 1)
	}
	// Ctrl-C and SIGTERM are caught until the children are stopped and the
	// namespace removed: the children ignore Ctrl-C, so a parent killed
	// by a second one halfway through its cleanup would leave them
	// running, and the namespace behind.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	p := &pipeline{cfg: c, out: stdout, errw: stderr}
	err := p.run(sigs)
	p.cleanup()
	if err != nil {
		fmt.Fprintln(stderr, "pipeline:", err)
		if errors.Is(err, errInterrupted) {
			return 130
		}
		return 1
	}
	return 0
}

var errInterrupted = errors.New("interrupted; children stopped, namespace removed")

// listFiles lists the regular files under c.in (the Go source tree by
// default), sorted, skipping hidden directories and symbolic links.
func (c *config) listFiles() error {
	if c.in == "" {
		root := runtime.GOROOT()
		if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil && len(strings.TrimSpace(string(out))) > 0 {
			root = strings.TrimSpace(string(out))
		}
		if root == "" {
			return errors.New("no Go source tree found (go env GOROOT): give -in DIR, or -synthetic")
		}
		c.in = filepath.Join(root, "src")
	}
	err := filepath.WalkDir(c.in, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != c.in && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // gone meanwhile
		}
		rel, err := filepath.Rel(c.in, path)
		if err != nil || strings.Contains(rel, "\n") {
			return nil
		}
		c.files = append(c.files, rel)
		c.bytes += info.Size()
		return nil
	})
	if err != nil {
		return fmt.Errorf("-in %s: %w", c.in, err)
	}
	if len(c.files) == 0 {
		return fmt.Errorf("-in %s: no files", c.in)
	}
	return nil
}

type pipeline struct {
	cfg       config
	out, errw io.Writer
	root      string
	sink      *child
	source    *child
	workers   []*child
	unique    atomic.Int64
	progress  chan struct{}
	tty       bool

	mu       sync.Mutex // guards the rest: work and stop share them
	stopping bool       // no child starts any more
	sys      *actor.System
	all      []*child
}

// run starts the children, feeds the pipeline and prints the summary. On
// a signal it stops the children and returns errInterrupted.
func (p *pipeline) run(sigs <-chan os.Signal) error {
	dir := os.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		dir = "/dev/shm" // segments in memory, as in production
	}
	var err error
	if p.root, err = os.MkdirTemp(dir, "shmactor-pipeline-"); err != nil {
		return err
	}
	p.root = filepath.Join(p.root, "ns")
	done := make(chan error, 1)
	go func() { done <- p.work() }()
	select {
	case err := <-done:
		return err
	case <-sigs:
		fmt.Fprintln(p.errw, "pipeline: interrupted: stopping the children and removing the namespace")
		p.stop()
		// With its children gone, whatever work waits for fails at once.
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		return errInterrupted
	}
}

func (p *pipeline) work() error {
	c := p.cfg
	sys, err := actor.Join(namespace, joinOptions(p.root, c.plaintext, c.size)...)
	if err != nil {
		return err
	}
	p.mu.Lock()
	if p.stopping {
		p.mu.Unlock()
		sys.Close()
		return errInterrupted
	}
	p.sys = sys
	p.mu.Unlock()
	if f, ok := p.out.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	p.progress = make(chan struct{}, 1)
	var started atomic.Int64 // unix nanoseconds
	started.Store(time.Now().UnixNano())
	if _, err := topic.SubscribeFunc(sys, progressSubject, func(_ string, m any) {
		pr := m.(*Progress)
		p.unique.Store(int64(pr.Unique))
		p.showProgress(pr, time.Since(time.Unix(0, started.Load())))
		select {
		case p.progress <- struct{}{}:
		default:
		}
	}); err != nil {
		return err
	}
	mode := "sealed"
	if c.plaintext {
		mode = "plaintext"
	}
	env := []string{envRoot + "=" + p.root, envN + fmt.Sprintf("=%d", c.n), envSize + fmt.Sprintf("=%d", c.size), envProgress + fmt.Sprintf("=%d", c.every), envWorkers + fmt.Sprintf("=%d", c.workers)}
	if c.synthetic {
		fmt.Fprintf(p.out, "pipeline: %d messages of %d B, 1 source → work queue → %d workers → sink, %s, namespace %s\n", c.n, c.size, c.workers, mode, p.root)
	} else {
		list := filepath.Join(filepath.Dir(p.root), "files")
		if err := os.WriteFile(list, []byte(strings.Join(c.files, "\n")+"\n"), 0o600); err != nil {
			return err
		}
		env = append(env, envFiles+"="+list, envIn+"="+c.in)
		fmt.Fprintf(p.out, "pipeline: %d files (%s) under %s, 1 source → work queue (files over %d KiB: out of line, to a pool of analyzers) → %d workers → sink, %s, namespace %s\n",
			c.n, mb(c.bytes), c.in, directMax>>10, c.workers, mode, p.root)
	}
	if c.plaintext {
		env = append(env, envPlain+"=1")
	}
	if p.sink, err = p.start("sink", env); err != nil {
		return err
	}
	for i := range c.workers {
		w, err := p.start("worker", append(env, fmt.Sprintf("%s=%d", envWorker, i+1)))
		if err != nil {
			return err
		}
		p.workers = append(p.workers, w)
	}
	if p.source, err = p.start("source", env); err != nil {
		return err
	}
	var killed *child
	if c.chaos {
		victim := p.workers[len(p.workers)-1]
		go func() {
			for range p.progress {
				if p.unique.Load() >= int64(c.n/3) {
					victim.cmd.Process.Kill()
					killed = victim
					p.line(fmt.Sprintf("chaos: killed worker %d (pid %d) with kill -9 after %d messages", len(p.workers), victim.cmd.Process.Pid, p.unique.Load()))
					return
				}
			}
		}()
	}
	started.Store(time.Now().UnixNano())
	p.source.send("go")
	if _, err := p.source.expect("sent", 10*time.Minute); err != nil {
		return err
	}
	resent, err := p.finish()
	if err != nil {
		return err
	}
	if !c.synthetic {
		// After a kill, the pool replaces its member there once the dead
		// node is reaped (a fraction of a second): the run may end first.
		var members, procs int
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			p.source.send("pool")
			l, err := p.source.expect("pool", 10*time.Second)
			if err != nil {
				return err
			}
			fmt.Sscanf(l, "%d %d", &members, &procs)
			if killed == nil || procs < c.workers || time.Now().After(deadline) {
				break
			}
		}
		if members != c.workers {
			return fmt.Errorf("the pool of analyzers has %d members at the end, want %d", members, c.workers)
		}
		p.line(fmt.Sprintf("pool of analyzers (files over %d KiB): %d members at the end, on %d worker process(es)", directMax>>10, members, procs))
	}
	p.sink.send("report")
	line, err := p.sink.expect("report", 30*time.Second)
	if err != nil {
		return err
	}
	var r Report
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		return fmt.Errorf("sink report %q: %w", line, err)
	}
	// Children print their counters when their stdin closes.
	var drops, undelivered, rejected uint64
	for _, ch := range p.all {
		if ch == killed {
			continue
		}
		ch.in.Close()
		l, err := ch.expect("stats", 30*time.Second)
		if err != nil {
			return err
		}
		var st actor.Stats
		if err := json.Unmarshal([]byte(l), &st); err != nil {
			return fmt.Errorf("%s stats %q: %w", ch.name, l, err)
		}
		drops += st.Full + st.Dropped
		undelivered += st.Undeliverable + st.Failed
		rejected += st.Rejected
	}
	for _, ch := range p.all {
		ch.wait()
	}
	p.summary(r, drops, undelivered, rejected, resent, killed != nil)
	if !c.synthetic && r.Bytes != c.bytes {
		return fmt.Errorf("the sink counted %d bytes, the files hold %d", r.Bytes, c.bytes)
	}
	if r.Unique != c.n || r.Duplicates != 0 || r.Bad != 0 || drops != 0 {
		return fmt.Errorf("%d of %d messages accounted for, %d duplicates, %d bad, %d drops", r.Unique, c.n, r.Duplicates, r.Bad, drops)
	}
	return nil
}

// finish waits for the sink to have every result. When results stop
// coming short of the total and a worker has died (it held some items), it asks
// the sink which are missing and has the source send them again. It
// returns how many were sent again.
func (p *pipeline) finish() (int, error) {
	resent := 0
	deadline := time.Now().Add(5 * time.Minute)
	last, since := -1, time.Now()
	for time.Now().Before(deadline) {
		if _, err := p.sink.expect("done", 250*time.Millisecond); err == nil {
			return resent, nil
		} else if p.sink.exited() {
			return resent, err
		}
		p.sink.send("count")
		l, err := p.sink.expect("count", 30*time.Second)
		if err != nil {
			return resent, err
		}
		if n, _ := strconv.Atoi(l); n != last {
			last, since = n, time.Now()
			continue
		}
		if time.Since(since) < time.Second {
			continue
		}
		// Nothing for a second, and a worker died: whatever is missing
		// is not coming. With every worker alive it is on its way (a
		// large file takes a worker a while), and sending it again
		// would only do it twice.
		if !p.workerGone() {
			continue
		}
		p.sink.send("missing")
		if l, err = p.sink.expect("missing", 30*time.Second); err != nil {
			return resent, err
		}
		ids := strings.Fields(l)
		if len(ids) == 0 {
			continue
		}
		p.line(fmt.Sprintf("%d message(s) never reached the sink (a killed worker held them or their results): sending them again", len(ids)))
		p.source.send("resend " + strings.Join(ids, " "))
		if _, err := p.source.expect("resent", time.Minute); err != nil {
			return resent, err
		}
		resent += len(ids)
		since = time.Now()
	}
	return resent, errors.New("the sink did not get every result within 5 minutes")
}

// workerGone reports whether a worker process has exited.
func (p *pipeline) workerGone() bool {
	for _, w := range p.workers {
		if w.exited() {
			return true
		}
	}
	return false
}

// showProgress prints a progress line, or a bar on a terminal.
func (p *pipeline) showProgress(pr *Progress, el time.Duration) {
	rate := float64(pr.Unique) / el.Seconds()
	if p.tty {
		const width = 40
		k := width * pr.Unique / max(pr.Total, 1)
		outMu.Lock()
		fmt.Fprintf(p.out, "\r[%s%s] %3d%%  %d/%d  %s msgs/s ", strings.Repeat("#", k), strings.Repeat(".", width-k), 100*pr.Unique/max(pr.Total, 1), pr.Unique, pr.Total, human(rate))
		if pr.Unique == pr.Total {
			fmt.Fprintln(p.out)
		}
		outMu.Unlock()
		return
	}
	p.line(fmt.Sprintf("consumed %s messages (%s msgs/s)", human(float64(pr.Unique)), human(rate)))
}

// line prints a line of its own (ending a progress bar first).
func (p *pipeline) line(s string) {
	outMu.Lock()
	defer outMu.Unlock()
	if p.tty {
		fmt.Fprint(p.out, "\r\033[K")
	}
	fmt.Fprintln(p.out, s)
}

func (p *pipeline) summary(r Report, drops, undelivered, rejected uint64, resent int, chaos bool) {
	c := p.cfg
	var b strings.Builder
	fmt.Fprintf(&b, "summary\n")
	fmt.Fprintf(&b, "  messages     %d of %d processed, %d duplicates at the sink\n", r.Unique, c.n, r.Duplicates)
	fmt.Fprintf(&b, "  throughput   %s msgs/s (%.2f s, first send to last result)\n", human(float64(r.Unique)/r.Seconds), r.Seconds)
	if !c.synthetic {
		fmt.Fprintf(&b, "  files        %d files, %s (%s/s), %d lines, %d words\n", r.Unique, mb(r.Bytes), mb(int64(float64(r.Bytes)/r.Seconds)), r.Lines, r.Words)
		var top []string
		for _, t := range r.Top {
			top = append(top, fmt.Sprintf("%s %d", t.Name, t.Count))
		}
		fmt.Fprintf(&b, "  identifiers  %s\n", strings.Join(top, ", "))
	}
	fmt.Fprintf(&b, "  end to end   p50 %v  p99 %v (source to sink, with the time items wait in the queue)\n", r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond))
	fmt.Fprintf(&b, "  drops        %d\n", drops)
	if chaos || resent > 0 || rejected > 0 {
		fmt.Fprintf(&b, "  killed       1 worker; %d message(s) whose results it had not delivered sent again; %d frame(s) from it refused after it died\n", resent, rejected)
	}
	if undelivered > 0 {
		fmt.Fprintf(&b, "  undelivered  %d (to a node that was gone)\n", undelivered)
	}
	ids := make([]int, 0, len(r.PerWorker))
	for w := range r.PerWorker {
		ids = append(ids, w)
	}
	sort.Ints(ids)
	var shares []string
	for _, w := range ids {
		shares = append(shares, fmt.Sprintf("w%d %.1f%%", w, 100*float64(r.PerWorker[w])/float64(max(r.Unique, 1))))
	}
	fmt.Fprintf(&b, "  per worker   %s\n", strings.Join(shares, "  "))
	ok := "every message accounted for"
	if r.Unique != c.n || r.Duplicates != 0 || drops != 0 {
		ok = "NOT every message accounted for"
	}
	fmt.Fprintf(&b, "  result       %s\n", ok)
	p.line(strings.TrimRight(b.String(), "\n"))
}

// stop kills every child and keeps new ones from starting. Every child
// is signalled before any is waited for: once the sink is gone, workers
// fail every result they send, and none should run on meanwhile.
func (p *pipeline) stop() {
	p.mu.Lock()
	p.stopping = true
	all := slices.Clone(p.all)
	p.mu.Unlock()
	for _, ch := range all {
		ch.signalKill()
	}
	for _, ch := range all {
		ch.kill()
	}
}

// cleanup stops the children and removes the namespace.
func (p *pipeline) cleanup() {
	p.stop()
	p.mu.Lock()
	sys := p.sys
	p.mu.Unlock()
	if sys != nil {
		sys.Close()
	}
	if p.root != "" {
		os.RemoveAll(filepath.Dir(p.root))
	}
}

// mb formats a byte count in MB.
func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// child is a child process playing a role.
type child struct {
	name  string
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string   // its output, line by line
	quit  chan struct{} // closed when it is killed: its output is dropped
	done  chan struct{} // closed when it has exited and its output ended
	once  sync.Once
}

// start starts a child in role and waits for its "ready".
func (p *pipeline) start(role string, env []string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ch := &child{name: role, cmd: exec.Command(exe), lines: make(chan string, 256), quit: make(chan struct{}), done: make(chan struct{})}
	ch.cmd.Env = append(append(os.Environ(), envRole+"="+role), env...)
	ch.cmd.Stderr = p.errw
	if ch.in, err = ch.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := ch.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := ch.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			// Lines nobody reads any more (a killed child's, such as a
			// worker's errors for a sink that is gone) must not block
			// reading to the end, or the child is never waited for.
			select {
			case ch.lines <- sc.Text():
			case <-ch.quit:
			}
		}
		close(ch.lines)
		ch.cmd.Wait()
		close(ch.done)
	}()
	p.mu.Lock()
	if p.stopping {
		p.mu.Unlock()
		ch.kill()
		return nil, errInterrupted
	}
	p.all = append(p.all, ch)
	p.mu.Unlock()
	if _, err := ch.expect("ready", 30*time.Second); err != nil {
		return nil, err
	}
	return ch, nil
}

// expect waits for a line starting with prefix and returns the rest.
func (ch *child) expect(prefix string, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case l, ok := <-ch.lines:
			if !ok {
				return "", fmt.Errorf("%s exited before saying %q", ch.name, prefix)
			}
			if rest, ok := strings.CutPrefix(l, prefix); ok {
				return strings.TrimSpace(rest), nil
			}
			if rest, ok := strings.CutPrefix(l, "error "); ok {
				return "", fmt.Errorf("%s: %s", ch.name, rest)
			}
		case <-t.C:
			return "", fmt.Errorf("%s did not say %q within %v", ch.name, prefix, timeout)
		}
	}
}

func (ch *child) send(line string) { io.WriteString(ch.in, line+"\n") }

func (ch *child) exited() bool {
	select {
	case <-ch.done:
		return true
	default:
		return false
	}
}

// wait waits a while for the child to exit after its stdin closed.
func (ch *child) wait() {
	select {
	case <-ch.done:
	case <-time.After(10 * time.Second):
		ch.kill()
	}
}

// signalKill kills the child without waiting for it.
func (ch *child) signalKill() {
	if !ch.exited() {
		ch.cmd.Process.Kill()
	}
}

// kill kills the child, drops its output and waits for it to exit.
func (ch *child) kill() {
	ch.once.Do(func() {
		ch.in.Close()
		close(ch.quit)
		ch.signalKill()
		<-ch.done
	})
}
