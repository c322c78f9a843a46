// Command qmpbench compares this project's QMP client
// (github.com/vmevents/vmevents/qmpagent/qmp) with digitalocean/go-qemu's
// qmp package on the same event stream.
//
// A child process plays QEMU on unix sockets: greeting, capabilities
// reply with a few events right behind it in the same write, then a stream
// of real QEMU 7.2 event lines, then end of stream. Each client connects,
// counts the events it receives until the stream ends, and the benchmark
// reports events per second and events lost, on one socket and on many
// sockets at once. It runs the qmp package's micro-benchmarks too, and
// prints docs/qmp-benchmark.md (written there by hack/bench-qmp.sh).
//
// It lives in its own module so that the product never depends on
// go-qemu. Run it with hack/bench-qmp.sh (or "make bench").
package main

import (
	"bufio"
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	goqemu "github.com/digitalocean/go-qemu/qmp"

	"github.com/vmevents/vmevents/qmpagent/qmp"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := serve(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "qmpbench serve:", err)
			os.Exit(1)
		}
		return
	}
	var c config
	flag.IntVar(&c.single, "events", 1_000_000, "events on the single-socket run")
	flag.IntVar(&c.sockets, "sockets", 1000, "sockets in the many-socket run")
	flag.IntVar(&c.perSocket, "per-socket", 1000, "events per socket in the many-socket run")
	flag.IntVar(&c.burst, "burst", 10, "events QEMU sends in the same write as the qmp_capabilities reply")
	flag.IntVar(&c.runs, "runs", 3, "runs per client and scenario; the median is reported")
	flag.IntVar(&c.bigQueue, "big-queue", 1<<16, "QueueSize of the second vmevents configuration")
	quick := flag.Bool("quick", false, "small and short, to try things: 100,000 events, 100 sockets, 1 run, short micro-benchmarks")
	flag.BoolVar(&c.micro, "micro", true, "also run the qmp package's micro-benchmarks (go test -bench in the repository this runs in)")
	out := flag.String("out", "", "also write the markdown to this file")
	flag.StringVar(&c.command, "command", "make bench", "the command to name in the page")
	flag.Parse()
	if *quick {
		c.quick, c.single, c.sockets, c.runs, c.benchtime = true, 100_000, 100, 1, "100ms"
	}
	start := time.Now()
	res, err := run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "qmpbench:", err)
		os.Exit(1)
	}
	res.took = time.Since(start)
	md := page(c, res)
	fmt.Print(md)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "qmpbench:", err)
			os.Exit(1)
		}
	}
}

// config is a run's sizes and what the page says of it.
type config struct {
	single, sockets, perSocket, burst, runs, bigQueue int
	quick, micro                                      bool
	benchtime                                         string // go test -benchtime for the micro-benchmarks; "" for its default
	command                                           string
}

// result is one run of one client in one scenario.
type result struct {
	sent, received uint64
	reported       uint64 // lost events the client told its consumer about
	elapsed        time.Duration
	err            error
}

func (r result) rate() float64 { return float64(r.received) / r.elapsed.Seconds() }
func (r result) lost() uint64  { return r.sent - r.received }

// client connects to one socket and counts events until the stream ends.
type client struct {
	name string
	note string
	conn func(path string) result
}

// row is the median run of one client in one scenario.
type row struct {
	scenario string
	sockets  int
	client   client
	median   result
}

// results is what a run measured.
type results struct {
	rows  []row
	micro []micro
	took  time.Duration
}

// find returns the row of a scenario (by its socket count) and client
// configuration.
func (rs results) find(sockets int, name, note string) (row, bool) {
	for _, r := range rs.rows {
		if r.sockets == sockets && r.client.name == name && r.client.note == note {
			return r, true
		}
	}
	return row{}, false
}

const (
	goQEMUName   = "digitalocean/go-qemu qmp"
	vmeventsName = "vmevents qmp"
	defaultNote  = "default options (QueueSize 1024)"
)

func run(c config) (results, error) {
	var res results
	dir, err := os.MkdirTemp("", "qmpbench")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	srv := exec.Command(self, "serve", "-dir", dir,
		fmt.Sprint("-single=", c.single), fmt.Sprint("-multi=", c.perSocket), fmt.Sprint("-burst=", c.burst))
	srv.Stderr = os.Stderr
	stdin, err := srv.StdinPipe()
	if err != nil {
		return res, err
	}
	stdout, err := srv.StdoutPipe()
	if err != nil {
		return res, err
	}
	if err := srv.Start(); err != nil {
		return res, err
	}
	defer func() { _ = stdin.Close(); _ = srv.Wait() }()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		return res, fmt.Errorf("server did not start: %q %v", line, err)
	}

	clients := []client{
		{goQEMUName, "", goQEMU},
		{vmeventsName, defaultNote, vmevents(qmp.Options{})},
		{vmeventsName, bigQueueNote(c.bigQueue), vmevents(qmp.Options{QueueSize: c.bigQueue})},
	}
	scenarios := []struct {
		name    string
		path    string
		sockets int
		events  int
	}{
		{"1 socket", filepath.Join(dir, "single.sock"), 1, c.single},
		{fmt.Sprintf("%d sockets", c.sockets), filepath.Join(dir, "multi.sock"), c.sockets, c.perSocket},
	}
	for _, sc := range scenarios {
		for _, cl := range clients {
			fmt.Fprintf(os.Stderr, "qmpbench: %s, %s %s\n", sc.name, cl.name, cl.note)
			var rs []result
			for i := 0; i < c.runs; i++ {
				r := fanOut(sc.path, sc.sockets, cl.conn)
				r.sent = uint64(sc.sockets) * uint64(sc.events)
				if r.err != nil {
					return res, fmt.Errorf("%s, %s: %w", sc.name, cl.name, r.err)
				}
				rs = append(rs, r)
			}
			slices.SortFunc(rs, func(a, b result) int { return cmp.Compare(a.rate(), b.rate()) })
			res.rows = append(res.rows, row{sc.name, sc.sockets, cl, rs[len(rs)/2]})
		}
	}
	if c.micro {
		fmt.Fprintln(os.Stderr, "qmpbench: the qmp package's micro-benchmarks")
		if res.micro, err = microBenchmarks(c.benchtime); err != nil {
			return res, err
		}
	}
	return res, nil
}

func bigQueueNote(n int) string { return fmt.Sprintf("QueueSize %d", n) }

// fanOut runs conn against n connections at once and sums the results.
func fanOut(path string, n int, conn func(string) result) result {
	var (
		mu    sync.Mutex
		total result
		wg    sync.WaitGroup
	)
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := conn(path)
			mu.Lock()
			total.received += r.received
			total.reported += r.reported
			if r.err != nil && total.err == nil {
				total.err = r.err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	return total
}

// goQEMU counts events with digitalocean/go-qemu's qmp package.
func goQEMU(path string) result {
	mon, err := goqemu.NewSocketMonitor("unix", path, 30*time.Second)
	if err != nil {
		return result{err: err}
	}
	if err := mon.Connect(); err != nil {
		return result{err: err}
	}
	events, err := mon.Events(context.Background())
	if err != nil {
		return result{err: err}
	}
	var r result
	for range events {
		r.received++
	}
	_ = mon.Disconnect()
	return r
}

// vmevents counts events with this project's client.
func vmevents(opts qmp.Options) func(string) result {
	return func(path string) result {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := qmp.Dial(ctx, path, opts)
		if err != nil {
			return result{err: err}
		}
		defer c.Close()
		var r result
		for ev := range c.Events() {
			if ev.Gap != nil {
				r.reported += ev.Gap.Total()
				continue
			}
			r.received++
		}
		return r
	}
}

func avgLine() int {
	n := 0
	for _, l := range eventLines {
		n += len(l) + 2
	}
	return n / len(eventLines)
}

func human(rate float64) string {
	switch {
	case rate >= 1e6:
		return fmt.Sprintf("%.2f M", rate/1e6)
	case rate >= 1e3:
		return fmt.Sprintf("%.0f k", rate/1e3)
	}
	return fmt.Sprintf("%.0f", rate)
}
