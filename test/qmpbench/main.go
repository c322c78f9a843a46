// Command qmpbench compares this project's QMP client
// (github.com/vmevents/vmevents/qmpagent/qmp) with digitalocean/go-qemu's
// qmp package on the same event stream.
//
// A child process plays QEMU on unix sockets: greeting, capabilities
// reply with a few events right behind it in the same write, then a stream
// of real QEMU 7.2 event lines, then end of stream. Each client connects,
// counts the events it receives until the stream ends, and the benchmark
// reports events per second and events lost, on one socket and on many
// sockets at once. It prints a markdown section.
//
// It lives in its own module so that the product never depends on
// go-qemu. Run it with hack/bench-qmp.sh (or "make bench").
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
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
	single := flag.Int("events", 1_000_000, "events on the single-socket run")
	sockets := flag.Int("sockets", 1000, "sockets in the many-socket run")
	perSocket := flag.Int("per-socket", 1000, "events per socket in the many-socket run")
	burst := flag.Int("burst", 10, "events QEMU sends in the same write as the qmp_capabilities reply")
	runs := flag.Int("runs", 3, "runs per client and scenario; the median is reported")
	bigQueue := flag.Int("big-queue", 1<<16, "QueueSize of the second vmevents configuration")
	flag.Parse()
	if err := run(*single, *sockets, *perSocket, *burst, *runs, *bigQueue); err != nil {
		fmt.Fprintln(os.Stderr, "qmpbench:", err)
		os.Exit(1)
	}
}

// result is one run of one client in one scenario.
type result struct {
	sent, received uint64
	reported       uint64 // lost events the client told its consumer about
	elapsed        time.Duration
	err            error
}

func (r result) rate() float64 { return float64(r.received) / r.elapsed.Seconds() }

// client connects to one socket and counts events until the stream ends.
type client struct {
	name string
	note string
	conn func(path string) result
}

func run(single, sockets, perSocket, burst, runs, bigQueue int) error {
	dir, err := os.MkdirTemp("", "qmpbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	srv := exec.Command(self, "serve", "-dir", dir,
		fmt.Sprint("-single=", single), fmt.Sprint("-multi=", perSocket), fmt.Sprint("-burst=", burst))
	srv.Stderr = os.Stderr
	stdin, err := srv.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := srv.StdoutPipe()
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { _ = stdin.Close(); _ = srv.Wait() }()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		return fmt.Errorf("server did not start: %q %v", line, err)
	}

	clients := []client{
		{"digitalocean/go-qemu qmp", "", goQEMU},
		{"vmevents qmp", "default options (QueueSize 1024)", vmevents(qmp.Options{})},
		{"vmevents qmp", fmt.Sprintf("QueueSize %d", bigQueue), vmevents(qmp.Options{QueueSize: bigQueue})},
	}
	scenarios := []struct {
		name    string
		path    string
		sockets int
		events  int
	}{
		{"1 socket", filepath.Join(dir, "single.sock"), 1, single},
		{fmt.Sprintf("%d sockets", sockets), filepath.Join(dir, "multi.sock"), sockets, perSocket},
	}

	fmt.Println("## QMP client benchmark")
	fmt.Println()
	fmt.Printf("Machine: %d CPUs (%s), %s, %s/%s, GOMAXPROCS %d.\n\n",
		runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
	fmt.Printf("Stream: real QEMU 7.2 event lines (%d kinds, about %d bytes each), over unix sockets from a separate server process; "+
		"%d events of each stream arrive in the same write as the qmp_capabilities reply. "+
		"Each client's consumer only counts events. Median of %d runs.\n\n",
		len(eventLines), avgLine(), burst, runs)
	fmt.Println("| scenario | client | configuration | events sent | received | lost | lost, reported to the consumer | events/s |")
	fmt.Println("|---|---|---|---:|---:|---:|---:|---:|")
	for _, sc := range scenarios {
		for _, cl := range clients {
			var rs []result
			for i := 0; i < runs; i++ {
				r := fanOut(sc.path, sc.sockets, cl.conn)
				r.sent = uint64(sc.sockets) * uint64(sc.events)
				if r.err != nil {
					return fmt.Errorf("%s, %s: %w", sc.name, cl.name, r.err)
				}
				rs = append(rs, r)
			}
			slices.SortFunc(rs, func(a, b result) int {
				switch {
				case a.rate() < b.rate():
					return -1
				case a.rate() > b.rate():
					return 1
				}
				return 0
			})
			m := rs[len(rs)/2]
			conf := cl.note
			if conf == "" {
				conf = "-"
			}
			fmt.Printf("| %s | %s | %s | %d | %d | %d | %d | %s |\n",
				sc.name, cl.name, conf, m.sent, m.received, m.sent-m.received, m.reported, human(m.rate()))
		}
	}
	fmt.Println()
	return nil
}

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

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
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
