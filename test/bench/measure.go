package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times on Linux.
const clockTicks = 100

// procSample is what /proc says of a process at one moment.
type procSample struct {
	At       time.Time
	CPUTicks int64 // utime + stime
	RSSKiB   int64
	HWMKiB   int64 // peak RSS
	// AnonKiB and FileKiB split the RSS: the process's own memory, and
	// the pages of files it maps (the binary's code and data, shared and
	// reclaimable).
	AnonKiB, FileKiB int64
}

func readProc(pid int) (procSample, error) {
	s := procSample{At: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
	f := strings.Fields(rest)
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return s, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	s.CPUTicks = ut + st
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			s.RSSKiB = n
		case "VmHWM":
			s.HWMKiB = n
		case "RssAnon":
			s.AnonKiB = n
		case "RssFile":
			s.FileKiB = n
		}
	}
	return s, nil
}

// cpuPercent is the share of one core used between two samples.
func cpuPercent(a, b procSample) float64 {
	wall := b.At.Sub(a.At).Seconds()
	if wall <= 0 {
		return 0
	}
	return float64(b.CPUTicks-a.CPUTicks) / clockTicks / wall * 100
}

// childPid finds the direct child of this process running the vmevents
// subcommand sub ("agent" or "controller"): test/framework/stack starts them with
// test/framework/proc and keeps the pid to itself.
func childPid(binary, sub string) (int, error) {
	me := os.Getpid()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid != me {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 1 && args[0] == binary && args[1] == sub {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no %s %s process found", binary, sub)
}

// sampler follows one process's RSS every second and keeps the peak.
type sampler struct {
	mu      sync.Mutex
	pid     int
	peakRSS int64
}

func (s *sampler) setPid(pid int) { s.mu.Lock(); s.pid = pid; s.mu.Unlock() }

// resetPeak starts a new peak and returns the previous one.
func (s *sampler) resetPeak() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peakRSS
	s.peakRSS = 0
	return p
}

func (s *sampler) peak() int64 { s.mu.Lock(); defer s.mu.Unlock(); return s.peakRSS }

func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		pid := s.pid
		s.mu.Unlock()
		if pid == 0 {
			continue
		}
		if ps, err := readProc(pid); err == nil {
			s.mu.Lock()
			s.peakRSS = max(s.peakRSS, ps.RSSKiB)
			s.mu.Unlock()
		}
	}
}

// metrics is a scrape of a Prometheus text endpoint: value by series, the
// series written as name{labels} with the labels as the endpoint gave them.
type metrics map[string]float64

func parseMetrics(r io.Reader) metrics {
	m := metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] += v
	}
	return m
}

// labels splits name{a="b",c="d"} into its name and labels.
func labels(series string) (string, map[string]string) {
	name, rest, ok := strings.Cut(series, "{")
	out := map[string]string{}
	if !ok {
		return series, out
	}
	rest = strings.TrimSuffix(rest, "}")
	for rest != "" {
		k, after, ok := strings.Cut(rest, `="`)
		if !ok {
			break
		}
		var val strings.Builder
		i := 0
		for ; i < len(after); i++ {
			if after[i] == '\\' && i+1 < len(after) {
				i++
				val.WriteByte(after[i])
				continue
			}
			if after[i] == '"' {
				break
			}
			val.WriteByte(after[i])
		}
		out[k] = val.String()
		rest = strings.TrimPrefix(after[min(i+1, len(after)):], ",")
	}
	return name, out
}

// sum adds the series of a metric whose labels pass keep (nil: all).
func (m metrics) sum(name string, keep func(l map[string]string) bool) float64 {
	total := 0.0
	for series, v := range m {
		n, l := labels(series)
		if n != name {
			continue
		}
		if keep == nil || keep(l) {
			total += v
		}
	}
	return total
}

// groupDelta is after minus before of a metric, summed by the label values
// key returns (series for which it returns "" are left out).
func groupDelta(before, after metrics, name string, key func(l map[string]string) string) map[string]float64 {
	out := map[string]float64{}
	for series, v := range after {
		n, l := labels(series)
		if n != name {
			continue
		}
		k := key(l)
		if k == "" {
			continue
		}
		out[k] += v - before[series]
	}
	for k, v := range out {
		if v == 0 {
			delete(out, k)
		}
	}
	return out
}

func scrapeHTTP(url string) (metrics, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body), nil
}

// scrapeAPIServer reads kube-apiserver's own /metrics as the admin.
func scrapeAPIServer(ctx context.Context, kc *kubernetes.Clientset) (metrics, error) {
	body, err := kc.CoreV1().RESTClient().Get().AbsPath("/metrics").Timeout(20 * time.Second).DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	return parseMetrics(strings.NewReader(string(body))), nil
}

// latencies summarises durations.
type latencies []time.Duration

func (l latencies) quantile(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append(latencies(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func (l latencies) String() string {
	if len(l) == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %s / %s", ms(l.quantile(0.5)), ms(l.quantile(0.99)), ms(l.quantile(1)))
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
