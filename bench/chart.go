package main

import (
	"fmt"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The comparison's chart: three panels of horizontal bars, one bar group
// per peer — request/reply latency at 64 B (p50 and p99), one-way msgs/s
// at 64 B and one-way MB/s at 4 KiB.

// chartPeers are the peers charted, top to bottom, with their labels.
var chartPeers = []struct{ peer, label string }{
	{peerSpin, "bare ring, spinning"},
	{peerPark, "bare ring, parked"},
	{peerSealed, "shmactor sealed"},
	{peerPlain, "shmactor plaintext"},
	{peerUnix, "Unix socket"},
	{peerNATS, "NATS"},
	{peerRemote, "protoactor remote"},
	{peerLocal, "protoactor in-process"},
}

// series is one bar per charted peer that has the row.
type series struct {
	name string
	of   func(result) float64
}

// panel makes a bar chart of rows of pattern and size, one group of bars
// (one per series) per peer that has the row, but for the peers left out.
func panel(rows map[rowKey]result, title, unit, pattern string, sz int, leftOut string, ss ...series) (*plot.Plot, error) {
	var labels []string
	var rs []result
	for i := len(chartPeers) - 1; i >= 0; i-- { // the first peer on top
		if chartPeers[i].peer == leftOut {
			continue
		}
		if r, ok := rows[rowKey{chartPeers[i].peer, pattern, sz}]; ok {
			labels = append(labels, chartPeers[i].label)
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = unit
	p.Legend.Top = true
	width := vg.Points(20 / float64(len(ss)))
	top := 0.0
	for i, s := range ss {
		vs := make(plotter.Values, len(rs))
		xys := make(plotter.XYs, len(rs))
		texts := make([]string, len(rs))
		for j, r := range rs {
			vs[j] = s.of(r)
			xys[j] = plotter.XY{X: vs[j], Y: float64(j)}
			texts[j] = barText(vs[j])
			top = max(top, vs[j])
		}
		b, err := plotter.NewBarChart(vs, width)
		if err != nil {
			return nil, err
		}
		b.Horizontal = true
		b.LineStyle.Width = 0
		b.Color = plotutil.Color(i)
		b.Offset = width * (vg.Length(len(ss)-1)/2 - vg.Length(i)) // the first series on top
		values, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: texts})
		if err != nil {
			return nil, err
		}
		for k := range values.TextStyle {
			values.TextStyle[k].Font.Size = vg.Points(8)
			values.TextStyle[k].YAlign = -0.5 // centred on the bar
		}
		values.Offset = vg.Point{X: vg.Points(3), Y: b.Offset}
		p.Add(b, values)
		if len(ss) > 1 {
			p.Legend.Add(s.name, b)
		}
	}
	p.X.Min, p.X.Max = 0, 1.3*top // room for the values and the legend
	p.NominalY(labels...)
	p.Y.Padding = vg.Points(12) // room for labels drawn in a wider font than measured
	return p, nil
}

// barText is a bar's value, with three significant digits or none after
// the point.
func barText(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// writeChart writes the chart of rows to path as SVG.
func writeChart(path string, rows map[rowKey]result) error {
	us := func(ns float64) float64 { return ns / 1000 }
	specs := []struct {
		title, unit, pattern string
		size                 int
		leftOut              string
		ss                   []series
	}{
		{"request/reply, 64 B, one in flight", "µs (shorter is better)", patRR, 64, "", []series{
			{"p50", func(r result) float64 { return us(r.P50) }},
			{"p99", func(r result) float64 { return us(r.P99) }},
		}},
		{"one-way, 64 B", "millions of msgs/s (longer is better)", patOneWay, 64, "", []series{
			{"msgs/s", func(r result) float64 { return r.Rate / 1e6 }},
		}},
		{"one-way, 4 KiB (protoactor in-process, which passes a pointer, left out)", "MB/s (longer is better)", patOneWay, 4 << 10, peerLocal, []series{
			{"MB/s", func(r result) float64 { return r.MBps }},
		}},
	}
	// Liberation Sans has the metrics of Arial and Helvetica, which a
	// viewer without it is likely to draw instead.
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	plotter.DefaultFont = plot.DefaultFont
	var plots [][]*plot.Plot
	for _, s := range specs {
		p, err := panel(rows, s.title, s.unit, s.pattern, s.size, s.leftOut, s.ss...)
		if err != nil {
			return err
		}
		if p != nil {
			plots = append(plots, []*plot.Plot{p})
		}
	}
	if len(plots) == 0 {
		return fmt.Errorf("%s: no rows to chart", path)
	}
	c := vgsvg.New(7*vg.Inch, vg.Length(len(plots))*3*vg.Inch)
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadX: vg.Millimeter, PadY: 6 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
