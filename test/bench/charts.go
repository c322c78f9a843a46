package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// series is one latency distribution of a chart.
type series struct {
	name string
	l    latencies
}

// minChartLatency is where the log axis starts: latencies below it (clock
// granularity) are drawn at it.
const minChartLatency = 0.001

// latencyChart draws the distributions as cumulative curves (share of the
// events seen by a given latency, on a log axis) into dir/file and returns
// the file's name, or "" when there is no folder or nothing to draw.
func latencyChart(dir, file, title string, ss ...series) (string, error) {
	if dir == "" {
		return "", nil
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "seconds from the QEMU timestamp (log scale)"
	p.Y.Label.Text = "share seen"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1
	// Top left: the curves reach 1 to the right and start low on the left.
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.YOffs = -vg.Points(8)
	p.Add(plotter.NewGrid())
	drawn := 0
	for i, s := range ss {
		if len(s.l) == 0 {
			continue
		}
		sorted := append(latencies(nil), s.l...)
		sort.Slice(sorted, func(a, b int) bool { return sorted[a] < sorted[b] })
		pts := make(plotter.XYs, len(sorted))
		for j, d := range sorted {
			pts[j].X = max(d.Seconds(), minChartLatency)
			pts[j].Y = float64(j+1) / float64(len(sorted))
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return "", err
		}
		line.Color = plotutil.Color(i)
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("%s (%d; p99 %s)", s.name, len(sorted), ms(sorted.quantile(0.99))), line)
		drawn++
	}
	if drawn == 0 {
		return "", nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := p.Save(8*vg.Inch, 4*vg.Inch, filepath.Join(dir, file)); err != nil {
		return "", err
	}
	return file, nil
}

// chart draws a scenario's latency chart and links it from its section.
func (b *bench) chart(scenario, title string, ss ...series) {
	file, err := latencyChart(b.o.charts, "scenario-"+scenario+"-latency.png", title, ss...)
	if err != nil {
		logf("chart of scenario %s: %v", scenario, err)
		return
	}
	if file != "" {
		b.rep.link(scenario, title, filepath.Join(b.o.chartsLink, file))
	}
}
