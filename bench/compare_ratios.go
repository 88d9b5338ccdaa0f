package main

import (
	"fmt"
	"strings"
)

// The comparison's verdicts: every shmactor row divided by each peer's row
// of the same pattern and size, and the project's targets.

// metric is one figure of a row.
type metric struct {
	name string
	of   func(result) float64
}

var (
	mP50  = metric{"p50", func(r result) float64 { return r.P50 }}
	mP99  = metric{"p99", func(r result) float64 { return r.P99 }}
	mRate = metric{"msgs/s", func(r result) float64 { return r.Rate }}
	mMBps = metric{"MB/s", func(r result) float64 { return r.MBps }}
)

// metricsOf returns the figures a row is compared by: p50 and p99 for
// latency rows, msgs/s for throughput rows.
func metricsOf(r result) []metric {
	if r.P50 > 0 {
		return []metric{mP50, mP99}
	}
	return []metric{mRate}
}

func (c *comparison) ratios() {
	if !c.rp.json {
		fmt.Println("\nratios, shmactor ÷ peer, same pattern and size: for p50 and p99 below 1x is faster, for msgs/s above 1x is more")
		fmt.Printf("%-52s", "")
		for _, o := range others {
			fmt.Printf(" %10s", o.short)
		}
		fmt.Println()
	}
	for _, pat := range []string{patRR, patOneWay, patPubRTT, patFanOut} {
		for _, sz := range append(compareSizes, largeSizes...) {
			for _, shmp := range []string{peerSealed, peerPlain, peerStream, peerStreamPlain, peerMachines, peerMachinesPlain, peerMachinesProto, peerLocalRemote} {
				r, ok := c.rows[rowKey{shmp, pat, sz}]
				if !ok {
					continue
				}
				for _, m := range metricsOf(r) {
					label := fmt.Sprintf("%s %s %s %s", strings.TrimPrefix(shmp, "shmactor "), pat, size(sz), m.name)
					var cells []string
					for _, o := range others {
						p, ok := c.rows[rowKey{o.peer, pat, sz}]
						if !ok || m.of(p) == 0 {
							cells = append(cells, "-")
							continue
						}
						v := m.of(r) / m.of(p)
						cells = append(cells, ratioText(v))
						if c.rp.json {
							c.rp.emit(result{Bench: "compare-ratio", Name: fmt.Sprintf("%s %s %s %s / %s %s", shmp, pat, size(sz), m.name, o.peer, m.name),
								Peer: shmp, Pattern: pat, Size: sz, Ratio: v, RatioTo: o.peer + " " + m.name})
						}
					}
					if !c.rp.json {
						fmt.Printf("%-52s", label)
						for _, cell := range cells {
							fmt.Printf(" %10s", cell)
						}
						fmt.Println()
					}
				}
			}
		}
	}
}

// ratioText prints a ratio with two decimals, or two significant digits
// below 0.1.
func ratioText(v float64) string {
	if v >= 0.0995 { // what %.2f prints as 0.10 or more
		return fmt.Sprintf("%.2fx", v)
	}
	return fmt.Sprintf("%.2gx", v)
}

// target is a bound on the ratio of two rows' figures.
type target struct {
	of, to rowKey
	m      metric
	atMost bool // the ratio must be ≤ bound (else ≥)
	bound  float64
	busy   bool // a target for -busy runs
}

func (t target) String() string {
	what := fmt.Sprintf("%s %s %s", strings.TrimPrefix(t.of.peer, "shmactor "), size(t.of.size), t.of.pattern)
	if t.of.pattern == patFanOut {
		what = fmt.Sprintf("%s topic %s %s", strings.TrimPrefix(t.of.peer, "shmactor "), t.of.pattern, size(t.of.size))
	}
	if t.busy {
		what = "-busy: " + what
	}
	return fmt.Sprintf("%s %s / %s %s", what, t.m.name, t.to.peer, t.m.name)
}

func (t target) bounds() string {
	op := "≥"
	if t.atMost {
		op = "≤"
	}
	return fmt.Sprintf("%s %gx", op, t.bound)
}

// projectTargets are the comparisons the project has set itself; with
// busy, also the ones that hold when every CPU is busy.
func projectTargets(busy bool) []target {
	k := func(peer, pat string, sz int) rowKey { return rowKey{peer, pat, sz} }
	atMost := func(of, to rowKey, m metric, bound float64) target {
		return target{of: of, to: to, m: m, atMost: true, bound: bound}
	}
	atLeast := func(of, to rowKey, m metric, bound float64) target {
		return target{of: of, to: to, m: m, bound: bound}
	}
	ts := []target{
		atMost(k(peerSealed, patRR, 64), k(peerLocal, patRR, 64), mP50, 2),
		atMost(k(peerSealed, patRR, 64), k(peerUnix, patRR, 64), mP99, 1),
		atMost(k(peerSealed, patRR, 4<<10), k(peerUnix, patRR, 4<<10), mP50, 0.5),
		atLeast(k(peerSealed, patOneWay, 64), k(peerNATS, patOneWay, 64), mRate, 2),
		atLeast(k(peerSealed, patOneWay, 64), k(peerLocal, patOneWay, 64), mRate, 0.75),
		atLeast(k(peerSealed, patOneWay, 4<<10), k(peerUnix, patOneWay, 4<<10), mMBps, 1),
		atLeast(k(peerSealed, patFanOut, 64), k(peerNATS, patFanOut, 64), mRate, 2),
		atLeast(k(peerSealed, patOneWay, 1<<20), k(peerUnix, patOneWay, 1<<20), mMBps, 1),
		atLeast(k(peerSealed, patOneWay, 64<<20), k(peerUnix, patOneWay, 64<<20), mMBps, 1),
		atMost(k(peerStream, patRR, 64), k(peerUnix, patRR, 64), mP50, 0.5),
		atLeast(k(peerStream, patOneWay, 64<<10), k(peerUnix, patOneWay, 64<<10), mMBps, 1.5),
		atLeast(k(peerStreamPlain, patOneWay, 64<<10), k(peerUnix, patOneWay, 64<<10), mMBps, 1.5),
		// Beyond one machine: no worse than protoactor's remote alone
		// (both plaintext gRPC), and the local path unchanged by a remote.
		atMost(k(peerMachinesPlain, patRR, 64), k(peerRemote, patRR, 64), mP50, 1),
		atLeast(k(peerMachinesPlain, patOneWay, 64), k(peerRemote, patOneWay, 64), mRate, 1),
		atMost(k(peerMachinesProto, patRR, 64), k(peerRemote, patRR, 64), mP50, 1),
		atLeast(k(peerMachinesProto, patOneWay, 64), k(peerRemote, patOneWay, 64), mRate, 1),
		atMost(k(peerLocalRemote, patRR, 64), k(peerSealed, patRR, 64), mP50, 1.1),
	}
	if busy {
		for _, sz := range compareSizes {
			for _, m := range []metric{mP50, mP99} {
				t := atMost(k(peerSealed, patRR, sz), k(peerUnix, patRR, sz), m, 1)
				t.busy = true
				ts = append(ts, t)
			}
		}
	}
	return ts
}

// idleTarget is the most CPU an idle System may use, in % of one CPU.
const idleTarget = 1.0

func (c *comparison) targets(busy bool) {
	if !c.rp.json {
		fmt.Println("\ntargets")
	}
	for _, t := range projectTargets(busy) {
		r := result{Bench: "compare-target", Name: t.String(), Target: t.bounds()}
		a, okA := c.rows[t.of]
		b, okB := c.rows[t.to]
		if c.only != "" && (!okA || !okB) {
			continue // -only left a row of it out
		}
		if okA && okB && t.m.of(b) > 0 {
			r.Ratio = t.m.of(a) / t.m.of(b)
			met := (t.atMost && r.Ratio <= t.bound) || (!t.atMost && r.Ratio >= t.bound)
			r.Met = &met
		}
		c.verdict(r, ratioText(r.Ratio))
	}
	if !busy && !c.rp.json {
		fmt.Println("  (with -busy: sealed request/reply p50 and p99 no worse than the Unix socket's)")
	}
	for _, p := range []struct{ peer, what string }{{peerSealed, "idle System"}, {peerStream, "idle System with an idle stream"}} {
		if c.only != "" {
			break
		}
		r := result{Bench: "compare-target", Name: fmt.Sprintf("%s CPU over %v, %% of one CPU", p.what, c.idle), Target: fmt.Sprintf("< %g%%", idleTarget)}
		if idle, ok := c.rows[rowKey{p.peer, patIdle, 0}]; ok {
			met := idle.CPU < idleTarget
			r.CPU, r.Met = idle.CPU, &met
		}
		c.verdict(r, fmt.Sprintf("%.2f%%", r.CPU))
	}
}

// verdict reports a target as met, missed, or not measured (Met is nil:
// a row it needs failed).
func (c *comparison) verdict(r result, value string) { printVerdict(r, c.rp.json, value) }

// printVerdict prints a target's outcome, or emits it as JSON.
func printVerdict(r result, asJSON bool, value string) {
	switch {
	case asJSON:
		(&reporter{json: true}).emit(r)
	case r.Met == nil:
		fmt.Printf("  %s (target %s): not measured, a row failed\n", r.Name, r.Target)
	case *r.Met:
		fmt.Printf("  %s = %s (target %s): met\n", r.Name, value, r.Target)
	default:
		fmt.Printf("  %s = %s (target %s): missed\n", r.Name, value, r.Target)
	}
}
