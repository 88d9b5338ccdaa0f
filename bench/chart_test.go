package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var chartOut = flag.String("chart", "", "also write the test chart here, to look at")

// TestChart draws the chart of a made-up comparison.
func TestChart(t *testing.T) {
	rows := map[rowKey]result{}
	for i, p := range chartPeers {
		f := float64(i + 1)
		rows[rowKey{p.peer, patRR, 64}] = result{P50: 1000 * f, P99: 3000 * f, Rate: 1e6 / f}
		rows[rowKey{p.peer, patOneWay, 64}] = result{Rate: 1e6 * f, MBps: 64 * f}
		if i != 1 { // a peer without the row is left out
			rows[rowKey{p.peer, patOneWay, 4 << 10}] = result{Rate: 1e5 * f, MBps: 409.6 * f}
		}
	}
	path := filepath.Join(t.TempDir(), "compare.svg")
	if *chartOut != "" {
		path = *chartOut
	}
	if err := writeChart(path, rows); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "request/reply, 64 B", "one-way, 4 KiB", "shmactor sealed", "protoactor in-process"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the chart has no %q", want)
		}
	}
	if err := writeChart(path, map[rowKey]result{}); err == nil {
		t.Error("a chart of no rows: no error")
	}
}
