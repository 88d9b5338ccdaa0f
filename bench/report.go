package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

// result is one measured figure.
type result struct {
	Bench   string  `json:"bench"`
	Name    string  `json:"name"`
	Peer    string  `json:"peer,omitempty"`
	Pattern string  `json:"pattern,omitempty"`
	Size    int     `json:"size"`
	N       int     `json:"n"`
	P50     float64 `json:"p50_ns,omitempty"`
	P99     float64 `json:"p99_ns,omitempty"`
	P999    float64 `json:"p999_ns,omitempty"`
	Rate    float64 `json:"msgs_per_sec,omitempty"`
	MBps    float64 `json:"mb_per_sec,omitempty"`
	CPU     float64 `json:"cpu_percent,omitempty"`
	Ratio   float64 `json:"ratio,omitempty"`
	RatioTo string  `json:"ratio_to,omitempty"`
	Target  string  `json:"target,omitempty"`
	Met     *bool   `json:"met,omitempty"`
	Err     string  `json:"error,omitempty"`
}

// latency fills the percentiles of r from samples.
func (r *result) latency(samples []time.Duration) {
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	at := func(q float64) float64 {
		return float64(samples[min(int(q*float64(len(samples))), len(samples)-1)])
	}
	r.N = len(samples)
	r.P50, r.P99, r.P999 = at(0.50), at(0.99), at(0.999)
	var total time.Duration
	for _, s := range samples {
		total += s
	}
	r.Rate = float64(len(samples)) / total.Seconds()
}

type reporter struct {
	json bool
	// wide is the comparison's table: a wider name column, MB/s
	// (msgs/s × size) instead of the ratio.
	wide    bool
	results []result
}

func (rp *reporter) header(title string) {
	if rp.json {
		return
	}
	fmt.Printf("%s\n%s\n\n", title, machine())
	rp.columns()
}

// columns prints the table's column names.
func (rp *reporter) columns() {
	if rp.wide {
		fmt.Printf("%-56s %7s %10s %10s %10s %10s %10s\n", "benchmark", "size", "p50", "p99", "p999", "msgs/s", "MB/s")
		return
	}
	fmt.Printf("%-44s %7s %10s %10s %10s %12s  %s\n", "benchmark", "size", "p50", "p99", "p999", "msgs/s", "ratio")
}

func (rp *reporter) add(r result) {
	rp.results = append(rp.results, r)
	if rp.json {
		rp.emit(r)
		return
	}
	lat := func(ns float64) string {
		if ns == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fµs", ns/1000)
	}
	if rp.wide {
		mbps := "-"
		if r.MBps > 0 {
			mbps = fmt.Sprintf("%.1f", r.MBps)
		}
		fmt.Printf("%-56s %7s %10s %10s %10s %10s %10s\n", r.Name, size(r.Size), lat(r.P50), lat(r.P99), lat(r.P999), rate(r.Rate), mbps)
		return
	}
	ratio := ""
	if r.RatioTo != "" {
		ratio = fmt.Sprintf("%.2fx %s", r.Ratio, r.RatioTo)
	}
	fmt.Printf("%-44s %7s %10s %10s %10s %12s  %s\n", r.Name, size(r.Size), lat(r.P50), lat(r.P99), lat(r.P999), rate(r.Rate), ratio)
}

// emit prints r as one JSON object.
func (rp *reporter) emit(r result) {
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

// ratio reports a ratio between two results, on a line of its own.
func (rp *reporter) ratio(name string, v float64) {
	r := result{Bench: "ratio", Name: name, Ratio: v}
	rp.results = append(rp.results, r)
	if rp.json {
		rp.emit(r)
		return
	}
	fmt.Printf("  %s: %.2fx\n", name, v)
}

func size(n int) string {
	switch {
	case n == 0:
		return "-"
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d B", n)
	}
}

func rate(r float64) string {
	switch {
	case r == 0:
		return "-"
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}

// machine describes where the figures were measured.
func machine() string {
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return fmt.Sprintf("%s/%s, %d CPUs (%s), %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpu, runtime.Version())
}

// loadAvg returns the 1, 5 and 15 minute load averages, as uptime shows
// them, or "unknown" where /proc/loadavg is not to be had.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// median runs a throughput measurement runs times and returns the run with
// the median rate: shared machines are noisy, and one run can be far off.
func median(runs int, measure func() (result, error)) (result, error) {
	return medianBy(runs, measure, func(r result) float64 { return r.Rate })
}

// medianLatency runs a latency measurement runs times and returns the run
// with the median p50.
func medianLatency(runs int, measure func() (result, error)) (result, error) {
	return medianBy(runs, measure, func(r result) float64 { return r.P50 })
}

// medianBy returns, of runs runs of measure, the one with the median key.
func medianBy(runs int, measure func() (result, error), key func(result) float64) (result, error) {
	var rs []result
	for range runs {
		r, err := measure()
		if err != nil {
			return r, err
		}
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool { return key(rs[i]) < key(rs[j]) })
	return rs[len(rs)/2], nil
}
