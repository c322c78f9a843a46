package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
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

// counters is a reading of cumulative counters, by series name, at a moment.
type counters struct {
	at time.Time
	v  map[string]float64
}

// sampleEvery reads counters every interval (read returns nil when it
// cannot) until the stop it returns is called; stop returns the readings.
func sampleEvery(ctx context.Context, every time.Duration, read func() map[string]float64) (stop func() []counters) {
	var (
		mu   sync.Mutex
		got  []counters
		done = make(chan struct{})
		quit = make(chan struct{})
	)
	take := func() {
		if v := read(); v != nil {
			mu.Lock()
			got = append(got, counters{time.Now(), v})
			mu.Unlock()
		}
	}
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		take()
		for {
			select {
			case <-ctx.Done():
				return
			case <-quit:
				return
			case <-t.C:
				take()
			}
		}
	}()
	return func() []counters {
		close(quit)
		<-done
		take()
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}

// The series of the storm's write-rate chart.
const (
	rateReceived = "agent: events received (all VMs)"
	rateWrites   = "agent: API writes (all VMs)"
	rateStormVM  = "storming VM: VirtualMachine writes"
	rateStormEv  = "storming VM: Event writes"
)

// stormCounters reads what the storm's chart draws: the agent's events
// received and API writes from its metrics, and the writes the bench's
// watches saw on the storming VM (counted since tracker.countStorm).
func (b *bench) stormCounters() map[string]float64 {
	m, err := scrapeHTTP(b.agentM)
	if err != nil {
		return nil
	}
	vmW, evW := b.tr.stormWrites(false)
	return map[string]float64{
		rateReceived: m.sum("vmevents_agent_events_received_total", nil),
		rateWrites:   m.sum("vmevents_agent_api_write_duration_seconds_count", nil),
		rateStormVM:  float64(vmW),
		rateStormEv:  float64(evW),
	}
}

// rates turns readings into per-second rates, each over the window
// readings before it, at seconds since start.
func rates(cs []counters, start time.Time, name string, window int, floor float64) plotter.XYs {
	var pts plotter.XYs
	for i := window; i < len(cs); i++ {
		dt := cs[i].at.Sub(cs[i-window].at).Seconds()
		if dt <= 0 {
			continue
		}
		pts = append(pts, plotter.XY{X: cs[i].at.Sub(start).Seconds(), Y: max((cs[i].v[name]-cs[i-window].v[name])/dt, floor)})
	}
	return pts
}

// plainTicks labels the default ticks as %g: "25", not "25.00".
type plainTicks struct{}

func (plainTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = fmt.Sprintf("%g", ts[i].Value)
		}
	}
	return ts
}

// writesChart draws the storm's rates over time into dir/file and returns
// the file's name ("" without a folder or readings): the agent's events
// received and API writes per second above (log scale), the storming VM's
// writes per second below (over 5 s: they come one at a time), against
// the goal; a dashed line marks the end of the storm.
func writesChart(dir, file, title string, cs []counters, start time.Time, storm time.Duration, goal float64) (string, error) {
	if dir == "" || len(cs) < 2 {
		return "", nil
	}
	top, bottom := plot.New(), plot.New()
	top.Title.Text = title
	top.Y.Label.Text = "per second (log scale)"
	top.Y.Scale = plot.LogScale{}
	top.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	bottom.Y.Label.Text = "per second, over 5 s"
	bottom.X.Label.Text = "seconds from the storm's start"
	const floor = 1 // the log axis starts at 1/s: less is drawn there
	yMax := 0.0
	for _, panel := range []struct {
		p      *plot.Plot
		names  []string
		window int
		floor  float64
	}{{top, []string{rateReceived, rateWrites}, 1, floor}, {bottom, []string{rateStormVM, rateStormEv}, 5, 0}} {
		panel.p.Add(plotter.NewGrid())
		panel.p.X.Tick.Marker = plainTicks{}
		panel.p.Legend.Left = true
		panel.p.Legend.XOffs, panel.p.Legend.YOffs = vg.Points(8), vg.Points(8)
		yMax = 0
		for i, name := range panel.names {
			pts := rates(cs, start, name, min(panel.window, len(cs)-1), panel.floor)
			for _, p := range pts {
				yMax = max(yMax, p.Y)
			}
			line, err := plotter.NewLine(pts)
			if err != nil {
				return "", err
			}
			line.Color = plotutil.Color(i)
			line.Width = vg.Points(1.5)
			panel.p.Add(line)
			panel.p.Legend.Add(name, line)
		}
		if panel.p == top {
			top.Y.Min, top.Y.Max = floor, max(yMax*2, 10)
		}
	}
	bottom.Y.Min, bottom.Y.Max = 0, max(yMax, goal)*1.5
	bottom.Y.Tick.Marker = plainTicks{}
	bottom.Legend.Top, bottom.Legend.YOffs = true, -vg.Points(4)
	last := cs[len(cs)-1].at.Sub(start).Seconds()
	goalLine, err := plotter.NewLine(plotter.XYs{{X: 0, Y: goal}, {X: last, Y: goal}})
	if err != nil {
		return "", err
	}
	goalLine.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	goalLine.Color = plotutil.Color(3)
	bottom.Add(goalLine)
	bottom.Legend.Add(fmt.Sprintf("goal: at most %g writes/s for the storming VM", goal), goalLine)
	for _, p := range []*plot.Plot{top, bottom} {
		p.X.Min, p.X.Max = 0, last
		end, err := plotter.NewLine(plotter.XYs{{X: storm.Seconds(), Y: p.Y.Min}, {X: storm.Seconds(), Y: p.Y.Max}})
		if err != nil {
			return "", err
		}
		end.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		p.Add(end)
	}
	top.Legend.Add("the storm ends", &plotter.Line{LineStyle: draw.LineStyle{Width: vg.Points(1), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}})

	const w, h = 8 * vg.Inch, 6 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Points(6), PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8)}
	plots := [][]*plot.Plot{{top}, {bottom}}
	canvases := plot.Align(plots, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.Create(filepath.Join(dir, file))
	if err != nil {
		return "", err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return "", err
	}
	return file, f.Close()
}

// stormChart draws scenario 3's write rates and links them from its section.
func (b *bench) stormChart(title string, cs []counters, start time.Time, storm time.Duration) {
	file, err := writesChart(b.o.charts, "scenario-3-writes.png", title, cs, start, storm, stormWritesGoal)
	if err != nil {
		logf("write-rate chart of scenario 3: %v", err)
		return
	}
	if file != "" {
		b.rep.link("3", title, filepath.Join(b.o.chartsLink, file))
	}
}
