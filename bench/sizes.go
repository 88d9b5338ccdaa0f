package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/shmactor/shmactor/actor"
)

// The hand-over latency of a message by size, from 64 B to 1 GiB: how
// long from Send until the receiving actor, in another process, holds
// the bytes (filling them excluded). Each hand-over is a Request whose
// handler answers with the wall-clock time it got the message, read from
// the system clock both processes share; the latency is that time minus
// the time just before Send.

func init() {
	subcommands["sizes"] = runSizes
	childRoles["size-sink"] = childSizeSink
}

// handedAt answers a hand-over with the time the handler got it, in Unix
// nanoseconds.
type handedAt struct{ T int64 }

func init() {
	if err := actor.RegisterMessageName[*handedAt]("bench.handedAt"); err != nil {
		panic(err)
	}
}

// The ways a message is handed over.
const (
	waySealed    = "message, sealed"
	wayPlain     = "message, plaintext"
	wayBlobSeal  = "Blob, sealed"
	wayBlobPlain = "Blob, plaintext (zero copy)"
)

var sizesWays = []string{waySealed, wayPlain, wayBlobSeal, wayBlobPlain}

var sizesSizes = []int{64, 4 << 10, 64 << 10, 1 << 20, 16 << 20, 64 << 20, 256 << 20, 1 << 30}

// sizesN is how many hand-overs of size to time: about 512 MiB worth,
// from 5 to 200.
func sizesN(size int, quick bool) int {
	n := min(max((512<<20)/size, 5), 200)
	if quick {
		n = min(n, 5)
	}
	return n
}

func runSizes(args []string) error {
	var svg, only string
	cf, err := parseFlags("sizes", args, func(fs *flag.FlagSet) {
		fs.StringVar(&svg, "svg", "auto", `write a chart to this SVG file ("" for none; default docs/sizes.svg, none with -quick)`)
		fs.StringVar(&only, "only", "", `measure only the ways whose names contain this ("Blob", "plaintext", ...)`)
	})
	if err != nil {
		return err
	}
	if svg == "auto" {
		svg = ""
		if !cf.quick {
			svg = "docs/sizes.svg"
		}
	}
	sizes := sizesSizes
	if cf.quick {
		sizes = sizes[:6] // up to 64 MiB
	}
	d, cleanup, err := benchDir()
	if err != nil {
		return err
	}
	defer cleanup()
	rp := &reporter{json: cf.json, wide: true}
	if !cf.json {
		fmt.Println("hand-over latency by size: from Send until the receiving actor in another process holds the bytes (filling excluded)")
		fmt.Printf("%s; load average %s; the median of %d runs by p50, each of 5 to 200 hand-overs\n", machine(), loadAvg(), cf.runs)
		rp.columns()
	}
	rows := map[string]map[int]result{}
	for _, way := range sizesWays {
		rows[way] = map[int]result{}
		if !strings.Contains(way, only) {
			continue
		}
		for _, sz := range sizes {
			n := sizesN(sz, cf.quick)
			r, err := medianLatency(cf.runs, func() (result, error) { return benchHandOver(d.Path(), way, sz, n) })
			if err != nil {
				fmt.Printf("%-56s %7s  failed: %v\n", way, size(sz), err)
				continue
			}
			r.Bench, r.Name, r.Size, r.N = "sizes", "hand-over, "+way, sz, n
			r.MBps = float64(sz) / (r.P50 / 1e9) / 1e6
			rows[way][sz] = r
			rp.add(r)
		}
	}
	sizesTargets(rows, cf.json)
	if svg != "" {
		if err := sizesChart(rows, sizes, svg); err != nil {
			return err
		}
		if !cf.json {
			fmt.Println("\nchart:", svg)
		}
	}
	return nil
}

func sizesTargets(rows map[string]map[int]result, asJSON bool) {
	if !asJSON {
		fmt.Println("\ntargets")
	}
	zc, ok1 := rows[wayBlobPlain][1<<30]
	small, ok2 := rows[waySealed][64<<10]
	r := result{Bench: "sizes-target", Name: "zero-copy 1 GiB hand-over p50", Target: "≤ 100µs"}
	if ok1 {
		met := zc.P50 <= 100e3
		r.P50, r.Met = zc.P50, &met
	}
	printVerdict(r, asJSON, fmt.Sprintf("%.1fµs", zc.P50/1e3))
	r = result{Bench: "sizes-target", Name: "zero-copy 1 GiB hand-over p50 / sealed 64 KiB message p50", Target: "≤ 2x"}
	if ok1 && ok2 && small.P50 > 0 {
		r.Ratio = zc.P50 / small.P50
		met := r.Ratio <= 2
		r.Met = &met
	}
	printVerdict(r, asJSON, ratioText(r.Ratio))
}

// benchHandOver times n hand-overs of size bytes by way to a child.
func benchHandOver(root, way string, size, n int) (result, error) {
	plain := way == wayPlain || way == wayBlobPlain
	ns := fmt.Sprintf("bench%d", nsSeq.Add(1))
	p, _, err := startReady("size-sink", envRoot+"="+root, envNS+"="+ns, envPlain+"="+strconv.FormatBool(plain))
	if err != nil {
		return result{}, err
	}
	defer p.kill()
	sys, err := joinBench(root, ns, plain)
	if err != nil {
		return result{}, err
	}
	defer sys.Close()
	pid, err := sys.Lookup("sink")
	if err != nil {
		return result{}, err
	}
	var data []byte
	if way == waySealed || way == wayPlain {
		data = make([]byte, size)
		for i := range data {
			data[i] = byte(i)
		}
	}
	samples := make([]time.Duration, 0, n)
	for i := 0; i < n+1; i++ { // the first warms up
		var msg any
		if data != nil {
			msg = &Blob{Data: data}
		} else {
			b, err := sys.NewBlob(size)
			if err != nil {
				return result{}, err
			}
			buf := b.Bytes()
			for j := 0; j < len(buf); j += 4096 {
				buf[j] = byte(j)
			}
			msg = b
		}
		t0 := time.Now().UnixNano()
		got, err := sys.Request(pid, msg, 2*time.Minute)
		if err != nil {
			return result{}, fmt.Errorf("hand-over %d: %w", i, err)
		}
		h, ok := got.(*handedAt)
		if !ok {
			return result{}, fmt.Errorf("hand-over %d: answered %T", i, got)
		}
		if i > 0 {
			samples = append(samples, time.Duration(h.T-t0))
		}
	}
	r := latencyResult("sizes", way, size, samples)
	r.Rate = 0 // one hand-over at a time: the p50 says it all
	return r, nil
}

// childSizeSink joins BENCH's namespace and serves "sink", which answers
// every message with the time it got it, and releases blobs.
func childSizeSink() error {
	sys, err := joinBench(os.Getenv(envRoot), os.Getenv(envNS), os.Getenv(envPlain) == "true")
	if err != nil {
		return err
	}
	defer sys.Close()
	if _, err := sys.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *Blob:
			ctx.Respond(&handedAt{T: time.Now().UnixNano()})
		case *actor.Blob:
			t := time.Now().UnixNano()
			m.Release()
			ctx.Respond(&handedAt{T: t})
		}
	}), "sink"); err != nil {
		return err
	}
	fmt.Println("ready")
	readLine()
	return nil
}

// sizesChart draws p50 hand-over latency against size, both on log
// scales, one line per way.
func sizesChart(rows map[string]map[int]result, sizes []int, path string) error {
	p := plot.New()
	p.Title.Text = "shmactor: hand-over latency by message size (p50, two processes)"
	p.X.Label.Text = "size (bytes)"
	p.Y.Label.Text = "latency (µs)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker = sizeTicks{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = true, true
	var lines []any
	for _, way := range sizesWays {
		var pts plotter.XYs
		for _, sz := range sizes {
			if r, ok := rows[way][sz]; ok && r.P50 > 0 {
				pts = append(pts, plotter.XY{X: float64(sz), Y: r.P50 / 1e3})
			}
		}
		if len(pts) > 0 {
			lines = append(lines, way, pts)
		}
	}
	if err := plotutil.AddLinePoints(p, lines...); err != nil {
		return err
	}
	return p.Save(9*vg.Inch, 5.5*vg.Inch, path)
}

// sizeTicks labels a log-scale size axis in B, KiB, MiB and GiB.
type sizeTicks struct{}

func (sizeTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for e := 0; e <= 40; e += 2 {
		v := math.Pow(2, float64(e))
		if v >= min/1.01 && v <= max*1.01 {
			t := plot.Tick{Value: v}
			if e == 6 || e == 10 || e == 16 || e == 20 || e == 26 || e == 30 {
				t.Label = size(int(v))
			}
			ts = append(ts, t)
		}
	}
	return ts
}
