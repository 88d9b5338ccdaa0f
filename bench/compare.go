package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/shmactor/shmactor/shm"
)

// The comparison: shmactor against what else a Go program has for traffic
// between the processes of one machine — a Unix socket, NATS, protoactor's
// remoting — and against protoactor inside one process and the bare round
// trip of the shared-memory ring, each in the same two-process setup (this
// process measures, a re-executed child serves or sends) and all measured
// in this run. Then each shmactor row's ratio to every comparable row, and
// the project's targets checked against them.

func init() {
	subcommands["compare"] = runCompare
}

// The peers, in table order.
const (
	peerSpin        = "bare: ring ping-pong, spinning (cache-line bound)"
	peerPark        = "bare: ring ping-pong, parked (futex bound)"
	peerSealed      = "shmactor sealed"
	peerPlain       = "shmactor plaintext"
	peerUnix        = "unix socket"
	peerStream      = "shmactor stream (net.Conn)"
	peerStreamPlain = "shmactor stream plaintext (net.Conn)"
	peerNATS        = "NATS"
	peerRemote      = "protoactor remote"
	peerLocal       = "protoactor in-process"
	// Beyond one machine (machines.go).
	peerMachines      = "shmactor across machines, mTLS"
	peerMachinesPlain = "shmactor across machines, plaintext"
	peerMachinesProto = "shmactor across machines, plaintext, protobuf"
	peerLocalRemote   = "shmactor sealed, remote configured"
)

// The patterns.
const (
	patRR     = "request/reply"
	patOneWay = "one-way"
	patPubRTT = "topic round trip"
	patFanOut = "fan-out 1→4 processes"
	patIdle   = "idle"
)

// others are the peers shmactor is compared with, with the short names
// that head the ratio columns.
var others = []struct{ peer, short string }{
	{peerUnix, "unix"},
	{peerNATS, "NATS"},
	{peerRemote, "remote"},
	{peerLocal, "in-proc"},
	{peerSpin, "ring spin"},
	{peerPark, "ring park"},
}

var compareSizes = []int{64, 4 << 10, 64 << 10}

// largeSizes are the sizes of the large-message rows: messages far
// larger than an inbox, which travel out of line.
var largeSizes = []int{1 << 20, 64 << 20}

type rowKey struct {
	peer, pattern string
	size          int
}

type comparison struct {
	cf      commonFlags
	rp      *reporter
	root    string // the namespace root of the shmactor rows
	sockDir string // where the Unix sockets are
	rows    map[rowKey]result
	failed  []string

	rtt, stream, fan int           // round trips, one-way messages (64 B), publications
	idle             time.Duration // how long the idle System is watched

	// Each row is measured by a process of its own (rowEnv), so that no
	// row runs beside what an earlier one left in the process: gRPC and
	// NATS client goroutines, a collected heap, a grown runtime. next
	// counts the rows; row is the one this process measures (-1: this
	// is the process that runs them all).
	next, row int
	measured  bool // the row process has measured its row
	// only, when set, limits the rows to those whose names contain it.
	only string
}

// rowEnv, set to a row's number, makes a compare process measure that
// row only and print its result as one JSON line.
const rowEnv = "SHMACTOR_BENCH_COMPARE_ROW"

// rowPrefix starts the line a row process prints its result on.
const rowPrefix = "row "

func runCompare(args []string) error {
	var busy bool
	var svg, only string
	cf, err := parseFlags("compare", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&busy, "busy", false, "run one spinning process per CPU for the whole run")
		fs.StringVar(&svg, "svg", "auto", `write a chart to this SVG file ("" for none; default docs/compare.svg, none with -quick)`)
		fs.StringVar(&only, "only", "", `measure only the rows whose names contain one of these, separated by | ("machines|protoactor remote"); no chart, no idle rows`)
	})
	if err != nil {
		return err
	}
	if svg == "auto" {
		svg = ""
		if !cf.quick && only == "" {
			svg = "docs/compare.svg"
		}
	}
	d, cleanup, err := benchDir()
	if err != nil {
		return err
	}
	defer cleanup()
	sockDir, err := os.MkdirTemp("", "shmactor-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(sockDir)
	c := &comparison{
		cf: cf, rp: &reporter{json: cf.json, wide: true},
		root: d.Path(), sockDir: sockDir, rows: map[rowKey]result{},
		rtt: 20_000, stream: 1_000_000, fan: 200_000, idle: 2 * time.Second,
		row: -1, only: only,
	}
	if cf.quick {
		c.rtt, c.stream, c.fan, c.idle = 2_000, 100_000, 20_000, time.Second
	}
	if v := os.Getenv(rowEnv); v != "" {
		// A row process: measure one row, print it, and leave.
		if c.row, err = strconv.Atoi(v); err != nil {
			return fmt.Errorf("compare: %s=%q: %w", rowEnv, v, err)
		}
		c.rp.json = true
		c.requestReply(d)
		c.oneWay()
		c.topics()
		c.large()
		c.machines()
		if !c.measured {
			return fmt.Errorf("compare: no row %d", c.row)
		}
		return nil
	}

	if !cf.json {
		fmt.Println("shmactor compared with the alternatives for local traffic: two processes each, all measured in this run")
		fmt.Printf("%s; load average %s\n", machine(), loadAvg())
		if busy {
			fmt.Printf("-busy: %d spinning processes, one per CPU, for the whole run\n", runtime.NumCPU())
		}
		if cf.quick {
			fmt.Println("-quick: a smoke run with small counts, not a measurement")
		}
	}
	if busy {
		stop, err := startHogs(runtime.NumCPU())
		if err != nil {
			return fmt.Errorf("-busy: %w", err)
		}
		defer stop()
	}

	c.requestReply(d)
	c.oneWay()
	c.topics()
	c.large()
	c.machines()
	if only == "" {
		c.idleCPU()
	}
	c.ratios()
	c.targets(busy)
	if svg != "" {
		if err := writeChart(svg, c.rows); err != nil {
			c.failed = append(c.failed, "chart: "+err.Error())
		} else if !cf.json {
			fmt.Printf("\nchart: %s\n", svg)
		}
	}
	if len(c.failed) > 0 {
		return fmt.Errorf("compare: %d failed:\n  %s", len(c.failed), strings.Join(c.failed, "\n  "))
	}
	return nil
}

// rttN is the number of round trips timed at size.
func (c *comparison) rttN(size int) int {
	if size > 4<<10 {
		return c.rtt / 4
	}
	return c.rtt
}

// streamN is the number of one-way messages at size: fewer for larger
// ones, at most 1.25 GiB a row.
func (c *comparison) streamN(size int) int {
	switch {
	case size > 4<<10:
		return c.stream / 50
	case size > 64:
		return c.stream / 5
	}
	return c.stream
}

// section starts a table: its title and a line on how it was measured.
func (c *comparison) section(title, how string) {
	if c.rp.json {
		return
	}
	fmt.Printf("\n%s\n  %s\n", title, how)
	c.rp.columns()
}

// medianOf says how the rows were taken.
func (c *comparison) medianOf() string {
	if c.cf.runs == 1 {
		return "one run"
	}
	return fmt.Sprintf("the median of %d runs", c.cf.runs)
}

func rowName(peer, pattern string) string {
	if strings.HasPrefix(peer, "bare:") {
		return peer
	}
	return peer + ", " + pattern
}

func shmPeer(plain bool) string {
	if plain {
		return peerPlain
	}
	return peerSealed
}

func streamPeer(plain bool) string {
	if plain {
		return peerStreamPlain
	}
	return peerStream
}

// measure runs one row (the median of -runs runs for throughput) and
// records it. A failed row is reported and the comparison goes on.
func (c *comparison) measure(peer, pattern string, sz int, throughput bool, run func() (result, error)) {
	if !c.wanted(rowName(peer, pattern)) {
		return
	}
	row := c.next
	c.next++
	if c.row >= 0 {
		if row != c.row {
			return
		}
		var r result
		var err error
		if throughput {
			r, err = median(c.cf.runs, run)
		} else {
			r, err = medianLatency(c.cf.runs, run)
		}
		if err != nil {
			r.Err = strings.Join(strings.Fields(err.Error()), " ")
			if r.Err == "" {
				r.Err = "failed"
			}
		}
		b, _ := json.Marshal(r)
		fmt.Println(rowPrefix + string(b))
		c.measured = true
		return
	}
	r, err := c.runRow(row)
	name := rowName(peer, pattern)
	if err != nil {
		msg := strings.Join(strings.Fields(err.Error()), " ")
		c.failed = append(c.failed, fmt.Sprintf("%s, %s: %s", name, size(sz), msg))
		if c.rp.json {
			c.rp.emit(result{Bench: "compare", Name: name, Peer: peer, Pattern: pattern, Size: sz, Err: msg})
		} else {
			fmt.Printf("%-56s %7s  failed: %s\n", name, size(sz), msg)
		}
		return
	}
	r.Bench, r.Name, r.Peer, r.Pattern, r.Size = "compare", name, peer, pattern, sz
	r.Ratio, r.RatioTo = 0, ""
	r.MBps = r.Rate * float64(sz) / 1e6
	c.rows[rowKey{peer, pattern, sz}] = r
	c.rp.add(r)
}

// wanted reports whether -only lets row name run: it names any of its
// parts separated by "|".
func (c *comparison) wanted(name string) bool {
	if c.only == "" {
		return true
	}
	for _, part := range strings.Split(c.only, "|") {
		if part != "" && strings.Contains(name, part) {
			return true
		}
	}
	return false
}

// runRow measures row number row in a process of its own.
func (c *comparison) runRow(row int) (result, error) {
	exe, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", rowEnv, row))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	for _, line := range strings.Split(string(out), "\n") {
		if js, ok := strings.CutPrefix(line, rowPrefix); ok {
			var r result
			if err := json.Unmarshal([]byte(js), &r); err != nil {
				return result{}, fmt.Errorf("row %d: %w", row, err)
			}
			if r.Err != "" {
				return result{}, errors.New(r.Err)
			}
			return r, nil
		}
	}
	return result{}, fmt.Errorf("row %d printed no result (%v): %s", row, err, strings.TrimSpace(stderr.String()))
}

func (c *comparison) requestReply(d *shm.Dir) {
	c.section("request/reply, one request in flight",
		fmt.Sprintf("p50/p99/p999 of %d round trips after %d to warm up (%d for 64 KiB), %s (by p50); msgs/s = round trips/s; MB/s = msgs/s × size", c.rtt, c.rtt/10, c.rttN(64<<10), c.medianOf()))
	for _, spin := range []bool{true, false} {
		peer := peerPark
		if spin {
			peer = peerSpin
		}
		c.measure(peer, patRR, 64, false, func() (result, error) { return benchRingRTT(d, 64, spin, c.rtt) })
	}
	for _, sz := range compareSizes {
		n := c.rttN(sz)
		for _, plain := range []bool{false, true} {
			c.measure(shmPeer(plain), patRR, sz, false, func() (result, error) { return benchActorRTT(c.root, plain, sz, n) })
		}
		c.measure(peerUnix, patRR, sz, false, func() (result, error) { return benchUnixRTT(c.sockDir, sz, n) })
		if sz == 64 {
			for _, plain := range []bool{false, true} {
				c.measure(streamPeer(plain), patRR, sz, false, func() (result, error) { return benchStreamRTT(c.root, plain, sz, n) })
			}
		}
		c.measure(peerNATS, patRR, sz, false, func() (result, error) { return benchNATSRTT(sz, n) })
		c.measure(peerRemote, patRR, sz, false, func() (result, error) { return benchRemoteRTT(sz, n) })
		c.measure(peerLocal, patRR, sz, false, func() (result, error) { return benchProtoRTT(sz, n) })
	}
}

func (c *comparison) oneWay() {
	c.section("one-way: the child sends, this process counts arrivals",
		fmt.Sprintf("from the go-ahead to the last arrival, %s; %d messages of 64 B, %d of 4 KiB, %d of 64 KiB",
			c.medianOf(), c.streamN(64), c.streamN(4<<10), c.streamN(64<<10)))
	for _, sz := range compareSizes {
		n := c.streamN(sz)
		for _, plain := range []bool{false, true} {
			c.measure(shmPeer(plain), patOneWay, sz, true, func() (result, error) { return benchActorSend(c.root, plain, sz, n, 1) })
		}
		c.measure(peerUnix, patOneWay, sz, true, func() (result, error) { return benchUnixStream(c.sockDir, sz, n) })
		if sz == 64<<10 {
			for _, plain := range []bool{false, true} {
				c.measure(streamPeer(plain), patOneWay, sz, true, func() (result, error) { return benchStreamBulk(c.root, plain, sz, n) })
			}
		}
		c.measure(peerNATS, patOneWay, sz, true, func() (result, error) { return benchNATSStream(sz, n) })
		c.measure(peerRemote, patOneWay, sz, true, func() (result, error) { return benchRemoteStream(sz, n) })
		c.measure(peerLocal, patOneWay, sz, true, func() (result, error) { return benchProtoSend(sz, n) })
	}
}

func (c *comparison) topics() {
	c.section("topics, 64 B",
		fmt.Sprintf("round trip: a publication answered with one on another subject, %d timed; fan-out: a publisher here, a subscriber in each of %d processes, %d publications, msgs/s = deliveries/s, %s",
			c.rtt, subProcs, c.fan, c.medianOf()))
	for _, plain := range []bool{false, true} {
		c.measure(shmPeer(plain), patPubRTT, 64, false, func() (result, error) { return benchTopicRTT(c.root, plain, c.rtt) })
	}
	c.measure(peerNATS, patPubRTT, 64, false, func() (result, error) { return benchNATSPubRTT(64, c.rtt) })
	for _, plain := range []bool{false, true} {
		c.measure(shmPeer(plain), patFanOut, 64, true, func() (result, error) {
			r, _, err := benchTopicFanOut(c.root, plain, subProcs, c.fan)
			return r, err
		})
	}
	c.measure(peerNATS, patFanOut, 64, true, func() (result, error) { return benchNATSFanOut(64, c.fan) })
}

// largeN is the number of one-way messages of a large size: about 2 GiB
// a row (a tenth with -quick).
func (c *comparison) largeN(size int) int {
	n := max(int(int64(2<<30)/int64(size)), 8)
	if c.cf.quick {
		n = max(n/10, 2)
	}
	return n
}

func (c *comparison) large() {
	c.section("large messages, one-way: the child sends, this process counts arrivals",
		fmt.Sprintf("shmactor's go out of line (a segment per message, the default inbox); the socket streams the same framed bytes; %s; %d messages of 1 MiB, %d of 64 MiB",
			c.medianOf(), c.largeN(1<<20), c.largeN(64<<20)))
	for _, sz := range largeSizes {
		n := c.largeN(sz)
		for _, plain := range []bool{false, true} {
			c.measure(shmPeer(plain), patOneWay, sz, true, func() (result, error) { return benchActorSend(c.root, plain, sz, n, 1) })
		}
		c.measure(peerUnix, patOneWay, sz, true, func() (result, error) { return benchUnixStream(c.sockDir, sz, n) })
	}
}

// machineSizes are the sizes of the rows between two machines.
var machineSizes = []int{64, 4 << 10}

func (c *comparison) machines() {
	c.section("beyond one machine: two namespaces (\"machines\") in two processes, over 127.0.0.1",
		fmt.Sprintf("shmactor's go through protoactor-go's remote (WithRemote), mutual TLS or plaintext like the protoactor remote rows, registered types (msgpack in an anypb.Any) or, \"protobuf\", the BytesValue those rows send; request/reply: %d round trips (p50/p99/p999), one-way: %d messages of 64 B; %s; \"remote configured\": two nodes of one machine with remotes, through shared memory",
			c.rttN(64), c.streamN(64), c.medianOf()))
	peers := []struct {
		peer    string
		tls, pb bool
	}{{peerMachines, true, false}, {peerMachinesPlain, false, false}, {peerMachinesProto, false, true}}
	for _, sz := range machineSizes {
		n := c.rttN(sz)
		for _, p := range peers {
			c.measure(p.peer, patRR, sz, false, func() (result, error) { return benchMachinesRTT(c.root, p.tls, p.pb, sz, n) })
		}
	}
	for _, sz := range machineSizes {
		n := c.streamN(sz)
		for _, p := range peers {
			c.measure(p.peer, patOneWay, sz, true, func() (result, error) { return benchMachinesStream(c.root, p.tls, p.pb, sz, n) })
		}
	}
	c.measure(peerLocalRemote, patRR, 64, false, func() (result, error) { return benchLocalWithRemote(c.root, 64, c.rttN(64)) })
}

func (c *comparison) idleCPU() {
	if !c.rp.json {
		fmt.Printf("\nidle\n  a child joins, spawns an actor, subscribes, answers one request and one publication, then sits idle %v\n", c.idle)
	}
	for _, withStream := range []bool{false, true} {
		r, err := benchIdle(c.root, c.idle, withStream)
		if err != nil {
			c.failed = append(c.failed, "idle: "+err.Error())
			if !c.rp.json {
				fmt.Printf("%-56s failed: %v\n", "shmactor idle System", err)
			}
			continue
		}
		c.rows[rowKey{r.Peer, patIdle, 0}] = r
		c.rp.results = append(c.rp.results, r)
		if c.rp.json {
			c.rp.emit(r)
			continue
		}
		fmt.Printf("%-56s %.2f%% of one CPU\n", r.Name, r.CPU)
	}
}
