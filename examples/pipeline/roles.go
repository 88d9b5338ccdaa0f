package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/mailbox"
	"github.com/shmactor/shmactor/shm"
	"github.com/shmactor/shmactor/topic"
)

// Messages between the pipeline's processes.
type (
	// Item is a unit of work: the source sends it to the work queue, or,
	// a file too large for the queue's records, to a worker by name.
	Item struct {
		ID      int
		SentAt  int64  // unix nanoseconds, when the source sent it
		Path    string // the file's, relative to the input directory ("" for a synthetic item)
		Payload []byte
	}
	// Result is a worker's answer for an Item, sent to the sink.
	Result struct {
		ID     int
		Worker int
		SentAt int64
		Digest []byte
		// A file's counts, and its most frequent identifiers.
		Bytes, Lines, Words int
		Idents              map[string]int
	}
	// Progress is what the sink publishes on progressSubject.
	Progress struct {
		Unique, Total int
	}
)

func init() {
	for _, err := range []error{actor.RegisterMessage[*Item](), actor.RegisterMessage[*Result](), actor.RegisterMessage[*Progress]()} {
		if err != nil {
			panic(err)
		}
	}
}

const (
	namespace       = "pipeline"
	workQueue       = "pipeline.work"
	sinkName        = "sink"
	analyzerKind    = "analyzer" // the kind of the pool that takes large files
	progressSubject = "pipeline.progress"

	envRole     = "PIPELINE_ROLE"
	envRoot     = "PIPELINE_ROOT"
	envPlain    = "PIPELINE_PLAINTEXT"
	envN        = "PIPELINE_N"
	envSize     = "PIPELINE_SIZE"
	envWorker   = "PIPELINE_WORKER"
	envWorkers  = "PIPELINE_WORKERS"
	envProgress = "PIPELINE_PROGRESS"
	envFiles    = "PIPELINE_FILES" // the list of input files, one path a line
	envIn       = "PIPELINE_IN"    // the input directory

	// directMax is the largest file that goes through the work queue;
	// larger ones go to the pool of analyzers, out of line.
	directMax = 192 << 10
	// topPerFile is how many of a file's identifiers its result carries.
	topPerFile = 64
)

// roles are the parts the pipeline's binary plays as a child process.
var roles = map[string]func() error{
	"source": runSource,
	"worker": runWorker,
	"sink":   runSink,
}

// runRole runs the child role named in the environment, if any, and
// reports whether there was one.
func runRole() (bool, int) {
	name := os.Getenv(envRole)
	if name == "" {
		return false, 0
	}
	fn := roles[name]
	if fn == nil {
		fmt.Fprintf(os.Stderr, "pipeline: unknown role %q\n", name)
		return true, 2
	}
	// Ctrl-C reaches the whole process group: the parent stops the
	// children, which need not do anything.
	signal.Ignore(os.Interrupt)
	if err := fn(); err != nil {
		fmt.Fprintf(os.Stderr, "pipeline %s: %v\n", name, err)
		return true, 1
	}
	return true, 0
}

func envInt(k string) int { v, _ := strconv.Atoi(os.Getenv(k)); return v }

func joinChild() (*actor.System, error) {
	return actor.Join(namespace, joinOptions(os.Getenv(envRoot), os.Getenv(envPlain) == "1", envInt(envSize))...)
}

// envelopeRoom is what an Item's envelope takes beyond its payload, with
// room to spare: its other fields, the envelope's header and the seal.
const envelopeRoom = 4 << 10

// joinOptions are the options every process of the pipeline joins with.
// Records of the default inbox hold 64 KiB, envelope included; payloads
// of up to -size's 256 KiB need more. The inbox geometry is also that of
// the work queue, which whichever process uses it first creates. The
// rings keep their default 2 MiB, in which a record may take a quarter.
func joinOptions(root string, plaintext bool, size int) []actor.Option {
	opts := []actor.Option{
		actor.WithRoot(root),
		actor.WithInbox(shm.RingConfig{MaxRecord: max(64<<10, size+envelopeRoom)}),
	}
	if plaintext {
		opts = append(opts, actor.WithPlaintext())
	}
	return opts
}

var outMu sync.Mutex

// say prints a line for the parent.
func say(format string, args ...any) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Printf(format+"\n", args...)
}

// parentGone is closed when stdin ends: the parent closed it, or died.
var parentGone = make(chan struct{})

// errParentGone is returned by work that stops because the parent is gone.
var errParentGone = errors.New("the parent is gone")

// commands runs fn for each line the parent writes, until it closes
// stdin. Lines are read meanwhile, so that parentGone closes when stdin
// ends even while fn runs; by then fn has had every line before the end.
func commands(fn func(cmd string, args []string)) {
	lines := make(chan []string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) > 0 {
				lines <- f
			}
		}
		close(parentGone)
		close(lines)
	}()
	for f := range lines {
		fn(f[0], f[1:])
	}
}

// sayStats prints the node's counters for the parent's summary.
func sayStats(sys *actor.System) {
	b, _ := json.Marshal(sys.Stats())
	say("stats %s", b)
}

// payload makes item id's payload of size bytes.
func payload(id, size int) []byte {
	p := make([]byte, size)
	for i := 0; i+8 <= size; i += 8 {
		binary.LittleEndian.PutUint64(p[i:], uint64(id)*0x9e3779b97f4a7c15+uint64(i))
	}
	return p
}

// runSource sends items to the work queue: all of them on "go", some
// again on "resend <id>...".
func runSource() error {
	sys, err := joinChild()
	if err != nil {
		return err
	}
	defer sys.Close()
	q, err := sys.QueuePID(workQueue)
	if err != nil {
		return err
	}
	n, size := envInt(envN), envInt(envSize)
	var files []string
	if list := os.Getenv(envFiles); list != "" {
		b, err := os.ReadFile(list)
		if err != nil {
			return err
		}
		files = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		n = len(files)
	}
	in := os.Getenv(envIn)
	// Files too large for the queue's records go to a supervised pool of
	// analyzers, a kind every worker process offers: one per worker, kept
	// at that number across the worker processes (a killed one is
	// replaced on a survivor), and never sent to a member whose process
	// is known gone.
	var pool *actor.PID
	if files != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		pool, err = sys.SpawnPool(ctx, analyzerKind, envInt(envWorkers))
		cancel()
		if err != nil {
			return err
		}
	}
	send := func(id int) error {
		for {
			it := &Item{ID: id}
			to := q
			if files != nil {
				b, err := os.ReadFile(filepath.Join(in, files[id]))
				if err != nil {
					return err
				}
				it.Path, it.Payload = files[id], b
				if len(b) > directMax {
					to = pool // too large for the queue's records: out of line, to the pool
				}
			} else {
				it.Payload = payload(id, size)
			}
			it.SentAt = time.Now().UnixNano()
			err := sys.Send(to, it)
			if !errors.Is(err, mailbox.ErrFull) && !errors.Is(err, mailbox.ErrNodeGone) {
				return err
			}
			// The queue stayed full for the send deadline (every worker
			// busy or gone): wait and try again; nothing is dropped.
			// Unless the parent is gone: then the workers are too.
			select {
			case <-parentGone:
				return errParentGone
			default:
			}
		}
	}
	say("ready")
	var failed error
	commands(func(cmd string, args []string) {
		if failed != nil {
			return
		}
		switch cmd {
		case "go":
			for id := range n {
				if failed = send(id); failed != nil {
					say("error %v", failed)
					return
				}
			}
			say("sent %d", n)
		case "resend":
			for _, a := range args {
				id, _ := strconv.Atoi(a)
				if failed = send(id); failed != nil {
					say("error %v", failed)
					return
				}
			}
			say("resent %d", len(args))
		case "pool":
			members, err := sys.PoolMembers(pool, 5*time.Second)
			if err != nil {
				say("pool 0 0 %v", err)
				return
			}
			nodes := map[string]bool{}
			for _, m := range members {
				nodes[m.Address] = true
			}
			say("pool %d %d", len(members), len(nodes))
		}
	})
	sayStats(sys)
	return failed
}

// analyze counts a file's lines and words and its identifiers (runs of
// letters, digits and '_' that start with a letter or '_'), keeping the
// most frequent.
func analyze(b []byte) (lines, words int, top map[string]int) {
	counts := map[string]int{}
	inWord := false
	for i := 0; i < len(b); {
		c := b[i]
		if c == '\n' {
			lines++
		}
		space := c == ' ' || c == '\n' || c == '\t' || c == '\r'
		if !space && !inWord {
			words++
		}
		inWord = !space
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			j := i + 1
			for j < len(b) && (b[j] == '_' || b[j] >= 'a' && b[j] <= 'z' || b[j] >= 'A' && b[j] <= 'Z' || b[j] >= '0' && b[j] <= '9') {
				j++
			}
			if j-i > 1 && j-i <= 64 {
				counts[string(b[i:j])]++
			}
			i = j
			continue
		}
		i++
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		lines++
	}
	if len(counts) <= topPerFile {
		return lines, words, counts
	}
	type kv struct {
		k string
		v int
	}
	all := make([]kv, 0, len(counts))
	for k, v := range counts {
		all = append(all, kv{k, v})
	}
	slices.SortFunc(all, func(a, b kv) int {
		if a.v != b.v {
			return b.v - a.v
		}
		return strings.Compare(a.k, b.k)
	})
	top = make(map[string]int, topPerFile)
	for _, e := range all[:topPerFile] {
		top[e.k] = e.v
	}
	return lines, words, top
}

// runWorker takes items from the work queue (and large files sent to it
// by name), hashes each payload — a file's, with its counts — and sends
// the result to the sink.
func runWorker() error {
	sys, err := joinChild()
	if err != nil {
		return err
	}
	defer sys.Close()
	me := envInt(envWorker)
	var sink *actor.PID
	var failed error
	props := actor.PropsFromFunc(func(ctx actor.Context) {
		it, ok := ctx.Message().(*Item)
		if !ok {
			return
		}
		r := &Result{ID: it.ID, Worker: me, SentAt: it.SentAt}
		sum := sha256.Sum256(it.Payload)
		if it.Path != "" {
			r.Bytes = len(it.Payload)
			r.Lines, r.Words, r.Idents = analyze(it.Payload)
		} else {
			for range 3 { // the work: a few rounds of hashing
				sum = sha256.Sum256(append(sum[:], it.Payload...))
			}
		}
		r.Digest = sum[:]
		if sink == nil {
			if sink, err = sys.Lookup(sinkName); err != nil {
				failed = err
				return
			}
		}
		if err := sys.Send(sink, r); err != nil {
			say("error %v", err)
		}
	})
	if _, err := sys.ConsumeQueue(workQueue, props); err != nil {
		return err
	}
	if err := sys.RegisterKind(analyzerKind, props); err != nil {
		return err
	}
	say("ready")
	commands(func(string, []string) {})
	sayStats(sys)
	return failed
}

// sink state, kept by the sink actor.
type sink struct {
	sys      *actor.System
	n, every int
	seen     []bool
	unique   int
	dups     int
	bad      int
	lat      []time.Duration
	workers  map[int]int
	first    int64 // earliest SentAt
	last     time.Time
	bytes    int64
	lines    int64
	words    int64
	idents   map[string]int
}

// Requests the sink actor answers.
type (
	reportReq  struct{}
	missingReq struct{}
	countReq   struct{}
)

// Report is the sink's summary, printed for the parent as JSON.
type Report struct {
	Unique, Duplicates, Bad int
	Seconds                 float64 // from the first item sent to the last result
	P50, P99                time.Duration
	PerWorker               map[int]int
	Bytes, Lines, Words     int64
	Top                     []IdentCount // the most frequent identifiers, most first
}

// IdentCount is an identifier and how often it occurs.
type IdentCount struct {
	Name  string
	Count int
}

func (s *sink) receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Result:
		if m.ID < 0 || m.ID >= s.n || len(m.Digest) != sha256.Size {
			s.bad++
			return
		}
		if s.seen[m.ID] {
			s.dups++
			return
		}
		now := time.Now()
		s.seen[m.ID] = true
		s.unique++
		s.workers[m.Worker]++
		s.bytes += int64(m.Bytes)
		s.lines += int64(m.Lines)
		s.words += int64(m.Words)
		for k, v := range m.Idents {
			s.idents[k] += v
		}
		s.lat = append(s.lat, now.Sub(time.Unix(0, m.SentAt)))
		if s.first == 0 || m.SentAt < s.first {
			s.first = m.SentAt
		}
		s.last = now
		if s.unique%s.every == 0 || s.unique == s.n {
			topic.Publish(s.sys, progressSubject, &Progress{Unique: s.unique, Total: s.n})
		}
		if s.unique == s.n {
			say("done")
		}
	case *reportReq:
		lat := slices.Clone(s.lat)
		slices.Sort(lat)
		r := Report{Unique: s.unique, Duplicates: s.dups, Bad: s.bad, PerWorker: s.workers, Bytes: s.bytes, Lines: s.lines, Words: s.words}
		for k, v := range s.idents {
			r.Top = append(r.Top, IdentCount{k, v})
		}
		slices.SortFunc(r.Top, func(a, b IdentCount) int {
			if a.Count != b.Count {
				return b.Count - a.Count
			}
			return strings.Compare(a.Name, b.Name)
		})
		r.Top = r.Top[:min(len(r.Top), 10)]
		if len(lat) > 0 {
			r.P50, r.P99 = lat[len(lat)/2], lat[min(len(lat)*99/100, len(lat)-1)]
			r.Seconds = s.last.Sub(time.Unix(0, s.first)).Seconds()
		}
		ctx.Respond(&r)
	case *countReq:
		ctx.Respond(s.unique)
	case *missingReq:
		var ids []string
		for id, ok := range s.seen {
			if !ok {
				ids = append(ids, strconv.Itoa(id))
			}
		}
		ctx.Respond(ids)
	}
}

// runSink counts results, publishes progress, and answers the parent's
// "report" and "missing".
func runSink() error {
	sys, err := joinChild()
	if err != nil {
		return err
	}
	defer sys.Close()
	n := envInt(envN)
	s := &sink{sys: sys, n: n, every: max(envInt(envProgress), 1), seen: make([]bool, n), lat: make([]time.Duration, 0, n), workers: map[int]int{}, idents: map[string]int{}}
	pid, err := sys.SpawnNamed(actor.PropsFromFunc(s.receive), sinkName)
	if err != nil {
		return err
	}
	say("ready")
	commands(func(cmd string, _ []string) {
		switch cmd {
		case "report":
			res, err := sys.Root.RequestFuture(pid, &reportReq{}, 10*time.Second).Result()
			if err != nil {
				say("error %v", err)
				return
			}
			b, _ := json.Marshal(res)
			say("report %s", b)
		case "count":
			res, err := sys.Root.RequestFuture(pid, &countReq{}, 10*time.Second).Result()
			if err != nil {
				say("error %v", err)
				return
			}
			say("count %d", res)
		case "missing":
			res, err := sys.Root.RequestFuture(pid, &missingReq{}, 10*time.Second).Result()
			if err != nil {
				say("error %v", err)
				return
			}
			say("missing %s", strings.Join(res.([]string), " "))
		}
	})
	sayStats(sys)
	return nil
}
